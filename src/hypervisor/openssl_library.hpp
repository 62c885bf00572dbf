#pragma once
// OpenSSL (Debian's libssl/libcrypto 3), loaded when a VMM first needs it rather than linked:
// the HMAC of authenticated tunnels (net_tunnel_auth.hpp) and the TLS under a migration stream
// (cli/tls_stream.hpp). Linking it made every VMM process pay ~1.7 MiB of resident memory for
// libcrypto's relocations and symbol tables, used or not (docs/architecture.md, "The VMM
// process"). Each function is looked up by name with the type its OpenSSL header declares, so a
// call through openssl() is checked by the compiler as a direct call would be.
//
// Load it before a sandbox or jail can stand in the way (`nimbus run` does when its options ask
// for TLS or a tunnel key): a jail's root holds no /usr/lib.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

// Every OpenSSL function Nimbus's VMM calls. (SSL_CTX_set_mode and friends are macros over
// SSL_CTX_ctrl / SSL_ctrl: callers use those two.)
#define NIMBUS_OPENSSL_FUNCTIONS(X)                                                                       \
  X(HMAC) X(EVP_sha256) X(CRYPTO_memcmp)                                                                  \
  X(ERR_get_error) X(ERR_error_string_n) X(ERR_reason_error_string) X(ERR_clear_error)                    \
  X(X509_verify_cert_error_string) X(X509_VERIFY_PARAM_set1_ip_asc)                                       \
  X(TLS_client_method) X(TLS_server_method)                                                               \
  X(SSL_CTX_new) X(SSL_CTX_free) X(SSL_CTX_ctrl) X(SSL_CTX_set_verify) X(SSL_CTX_set_num_tickets)         \
  X(SSL_CTX_use_certificate_chain_file) X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_check_private_key)      \
  X(SSL_CTX_load_verify_locations)                                                                        \
  X(SSL_new) X(SSL_free) X(SSL_ctrl) X(SSL_set_fd) X(SSL_set1_host) X(SSL_get0_param) X(SSL_connect)     \
  X(SSL_accept) X(SSL_read) X(SSL_write) X(SSL_shutdown) X(SSL_get_error) X(SSL_get_verify_result)

namespace nimbus::hypervisor {

struct OpenSsl {
#define NIMBUS_OPENSSL_MEMBER(name) decltype(&::name) name = nullptr;
  NIMBUS_OPENSSL_FUNCTIONS(NIMBUS_OPENSSL_MEMBER)
#undef NIMBUS_OPENSSL_MEMBER
};

// Loads libssl (and with it libcrypto) on the first call, thread-safe; later calls return the
// same table. Throws std::runtime_error naming the library or function that is missing and what
// to install, on every call when the first one failed.
const OpenSsl& openssl();

} // namespace nimbus::hypervisor
