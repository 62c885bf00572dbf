#include "cli/cloud_pki.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>

namespace nimbus::cli {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(FILE* p) const { std::fclose(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;

void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("making the cloud's certificates: " + what + " failed");
}

Key new_key() {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "P-256 key generation");
  return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, std::string("extension ") + OBJ_nid2sn(nid));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by `issuer_key` (self-signed when issuer is null).
Cert new_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, int days, bool ca) {
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  check(RAND_bytes(serial, sizeof serial) == 1, "random serial");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : cert.get();
  if (ca) {
    add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), iss, NID_ext_key_usage, "serverAuth,clientAuth");
    add_ext(cert.get(), iss, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  }
  add_ext(cert.get(), iss, NID_subject_key_identifier, "hash");
  check(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "signing the certificate of " + cn);
  return cert;
}

void write_pem(const std::string& path, bool secret, const std::function<int(FILE*)>& write) {
  std::filesystem::remove(path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
  check(fd >= 0, "creating " + path);
  std::unique_ptr<FILE, Free> f(::fdopen(fd, "w"));
  if (!f) ::close(fd);
  check(f != nullptr, "opening " + path);
  check(write(f.get()) == 1, "writing " + path);
}

} // namespace

const CloudPki::Member& CloudPki::of(const std::string& name) const {
  for (const auto& m : members)
    if (m.name == name) return m;
  throw std::out_of_range("the cloud's PKI has no certificate for " + name);
}

CloudPki make_cloud_pki(const std::string& dir, const std::vector<std::string>& members, int days) {
  const std::string pki = dir + "/pki";
  std::filesystem::create_directories(pki);
  std::filesystem::permissions(pki, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
  CloudPki out;
  Key ca_key = new_key();
  Cert ca = new_cert(ca_key.get(), "nimbus cloud CA", nullptr, ca_key.get(), days, true);
  out.ca_cert = pki + "/ca.crt";
  write_pem(pki + "/ca.key", true, [&](FILE* f) { return PEM_write_PrivateKey(f, ca_key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
  write_pem(out.ca_cert, false, [&](FILE* f) { return PEM_write_X509(f, ca.get()); });
  for (const auto& name : members) {
    Key key = new_key();
    Cert cert = new_cert(key.get(), name, ca.get(), ca_key.get(), days, false);
    CloudPki::Member m{name, pki + "/" + name + ".crt", pki + "/" + name + ".key"};
    write_pem(m.key, true, [&](FILE* f) { return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
    write_pem(m.cert, false, [&](FILE* f) { return PEM_write_X509(f, cert.get()); });
    out.members.push_back(m);
  }
  return out;
}

} // namespace nimbus::cli
