#pragma once
// `nimbus cloud up`'s certificates (docs/cloud.md, "nimbus cloud up"): a CA of the cloud's own and
// one certificate per member (etcd, the controller, each host agent, the admin client), so every
// TCP endpoint of the cloud speaks TLS and every connection between its parts is authenticated
// at both ends. Keys are P-256 (files mode 0600).
#include <string>
#include <vector>

namespace nimbus::cli {

struct CloudPki {
  std::string ca_cert;                    // DIR/pki/ca.crt
  struct Member {
    std::string name, cert, key;          // DIR/pki/<name>.crt, .key
  };
  std::vector<Member> members;
  // The member called `name`; throws std::out_of_range when there is none.
  const Member& of(const std::string& name) const;
};

// Makes DIR/pki/: the CA (its key stays there, 0600) and, for each member, a certificate with
// CN = its name, subjectAltName IP:127.0.0.1 and DNS:localhost (every part of `cloud up` listens
// on loopback), extendedKeyUsage serverAuth + clientAuth, valid for `days`. Throws
// std::runtime_error naming the step that failed.
CloudPki make_cloud_pki(const std::string& dir, const std::vector<std::string>& members, int days = 30);

} // namespace nimbus::cli
