#include "hypervisor/openssl_library.hpp"

#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace nimbus::hypervisor {

namespace {

// The shared library this build's headers belong to (libssl.so.3 for OpenSSL 3.x).
#define NIMBUS_STRINGIFY2(x) #x
#define NIMBUS_STRINGIFY(x) NIMBUS_STRINGIFY2(x)
constexpr const char* kLibssl = "libssl.so." NIMBUS_STRINGIFY(OPENSSL_VERSION_MAJOR);

struct Loaded {
  OpenSsl table;
  std::string error;
};

Loaded load() {
  Loaded loaded;
  // Never closed: TLS relays and tunnels may use it until the process ends.
  void* handle = ::dlopen(kLibssl, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    loaded.error = std::string("cannot load OpenSSL (") + kLibssl + "): " + (why != nullptr ? why : "dlopen failed") +
                   "; install it: apt-get install libssl3";
    return loaded;
  }
  // dlsym on libssl's handle also finds libcrypto's functions (its dependency).
#define NIMBUS_OPENSSL_LOOKUP(name)                                                                  \
  loaded.table.name = reinterpret_cast<decltype(&::name)>(::dlsym(handle, #name));                  \
  if (loaded.table.name == nullptr) {                                                                \
    loaded.error = std::string("OpenSSL (") + kLibssl + ") has no " #name ": another OpenSSL version than the one nimbus was built with"; \
    return loaded;                                                                                   \
  }
  NIMBUS_OPENSSL_FUNCTIONS(NIMBUS_OPENSSL_LOOKUP)
#undef NIMBUS_OPENSSL_LOOKUP
  return loaded;
}

} // namespace

const OpenSsl& openssl() {
  static const Loaded loaded = load();
  if (!loaded.error.empty()) throw std::runtime_error(loaded.error);
  return loaded.table;
}

} // namespace nimbus::hypervisor
