#include "cloud/controller/agent_client.hpp"

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <stdexcept>

namespace nimbus::cloud::controller {

std::unique_ptr<httplib::Client> make_agent_client(const std::string& api, const std::string& agent_ca,
                                                   std::chrono::milliseconds connect_timeout,
                                                   std::chrono::milliseconds read_timeout) {
  auto client = std::make_unique<httplib::Client>(api);
  if (!client->is_valid()) throw std::invalid_argument("the host's API URL '" + api + "' is not an http:// or https:// URL");
  if (api.rfind("https://", 0) == 0) {
    // Never skip verification: a console carries the tenant's keystrokes.
    client->enable_server_certificate_verification(true);
    if (!agent_ca.empty()) client->set_ca_cert_path(agent_ca);
  }
  client->set_connection_timeout(connect_timeout);
  client->set_read_timeout(read_timeout);
  return client;
}

std::string agent_failure_code(httplib::Error error) {
  return error == httplib::Error::SSLServerVerification || error == httplib::Error::SSLLoadingCerts ? "agent_tls_unverified"
                                                                                                     : "agent_unreachable";
}

std::string agent_failure_text(const std::string& host, const std::string& api, httplib::Error error, long verify_result,
                               const std::string& agent_ca) {
  if (error == httplib::Error::SSLServerVerification) {
    const std::string why = verify_result != 0 ? X509_verify_cert_error_string(verify_result)
                                               : "its certificate does not name the host of that address";
    if (agent_ca.empty())
      return fmt::format(
          "the agent of host '{}' at {} serves HTTPS with a certificate the controller cannot verify ({}): start the "
          "controller with --agent-ca FILE, the CA that signed the agents' certificates (nimbus cloud up does: "
          "DIR/pki/ca.crt)",
          host, api, why);
    return fmt::format(
        "the agent of host '{}' at {} presented a certificate that --agent-ca {} does not verify ({}): give the CA that "
        "signed the agents' certificates, and certificates that name the host of their --listen/--advertise address",
        host, api, agent_ca, why);
  }
  if (error == httplib::Error::SSLLoadingCerts)
    return fmt::format("the controller cannot load --agent-ca {} to verify the agent of host '{}' at {}: give a readable "
                       "PEM file holding the CA certificate that signed the agents' certificates",
                       agent_ca, host, api);
  if (error == httplib::Error::SSLConnection)
    return fmt::format("the agent of host '{}' at {}: the TLS handshake failed ({}); is it the same agent (a plain HTTP "
                       "port), and can the controller read --agent-ca{}? retry",
                       host, api, httplib::to_string(error), agent_ca.empty() ? "" : " " + agent_ca);
  return fmt::format("the agent of host '{}' at {} did not answer ({}); retry", host, api, httplib::to_string(error));
}

void check_agent_ca(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) throw std::runtime_error(fmt::format("--agent-ca {}: cannot read it (give the CA certificate, PEM, that signed "
                                               "the host agents' TLS certificates, e.g. DIR/pki/ca.crt of nimbus cloud up)",
                                               path));
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!cert)
    throw std::runtime_error(fmt::format("--agent-ca {}: no PEM certificate in it (give the CA certificate that signed the "
                                         "host agents' TLS certificates, e.g. DIR/pki/ca.crt of nimbus cloud up)",
                                         path));
  X509_free(cert);
}

}  // namespace nimbus::cloud::controller
