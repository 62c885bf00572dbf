#pragma once
// `nimbus cloud up`'s certificates (docs/cloud.md, "nimbus cloud up"): a CA of the cloud's own and
// one certificate per host agent, so live moves between agents run over TLS with both ends
// authenticated (nimbus host --tls-cert/--tls-key/--tls-ca). Keys are P-256 (files mode 0600).
#include <string>
#include <vector>

namespace nimbus::cli {

struct CloudPki {
  std::string ca_cert;                    // DIR/pki/ca.crt
  struct Host {
    std::string name, cert, key;          // DIR/pki/<name>.crt, .key
  };
  std::vector<Host> hosts;
};

// Makes DIR/pki/: the CA (its key stays there, 0600) and, for each host, a certificate with
// CN = the host name, subjectAltName IP:127.0.0.1 and DNS:localhost (the agents of `cloud up`
// listen on loopback), extendedKeyUsage serverAuth + clientAuth, valid for `days`. Throws
// std::runtime_error naming the step that failed.
CloudPki make_cloud_pki(const std::string& dir, const std::vector<std::string>& hosts, int days = 30);

} // namespace nimbus::cli
