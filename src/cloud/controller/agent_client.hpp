#pragma once
// The controller's HTTP(S) client to a host agent's API (console proxy). An agent started with
// --tls-cert/--tls-key advertises an https:// API; the controller verifies its certificate, and
// that it names the host of the address, against --agent-ca (nimbus cloud up passes
// DIR/pki/ca.crt), else the system's roots. A verification failure becomes an error that says
// which option to give (docs/cloud.md, "TLS inside the cloud").
#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>

namespace nimbus::cloud::controller {

// A client for `api` (http:// or https://). With an https:// URL and a non-empty `agent_ca`,
// the server must present a certificate chaining to that CA. Throws std::invalid_argument for a
// URL cpp-httplib cannot use.
std::unique_ptr<httplib::Client> make_agent_client(const std::string& api, const std::string& agent_ca,
                                                   std::chrono::milliseconds connect_timeout,
                                                   std::chrono::milliseconds read_timeout);

// Why a request to the agent of `host` at `api` failed, and what to do about it. `verify_result`
// is the client's get_openssl_verify_result() (0 when it did not get that far).
std::string agent_failure_text(const std::string& host, const std::string& api, httplib::Error error, long verify_result,
                               const std::string& agent_ca);

// The error code of a JSON answer for that failure: "agent_tls_unverified" when the agent's
// certificate could not be verified (or --agent-ca not loaded), else "agent_unreachable".
std::string agent_failure_code(httplib::Error error);

// Checks at startup that `path` holds at least one PEM certificate; throws std::runtime_error
// saying what is wrong and what the file should be.
void check_agent_ca(const std::string& path);

}  // namespace nimbus::cloud::controller
