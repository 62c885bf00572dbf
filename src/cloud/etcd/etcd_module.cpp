// Finds and loads nimbus-etcd-grpc.so, the gRPC transport of etcd::Client (etcd_backend.hpp).
// Looked for, in order:
//   1. $NIMBUS_ETCD_MODULE, when set (and then only there): a path to the module file;
//   2. next to the running executable (/proc/self/exe), the install layout and the build tree's
//      src/cli/ (CMake puts the module beside `nimbus`);
//   3. the build tree's path (NIMBUS_ETCD_MODULE_BUILD_PATH), for test executables built elsewhere.
// The module is never unloaded: gRPC keeps threads of its own for the life of the process.
#include "cloud/etcd/etcd_backend.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sys/stat.h>

namespace nimbus::cloud::etcd {

namespace {

std::string executable_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string path(buf, static_cast<size_t>(n));
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::vector<std::string> candidate_paths() {
  if (const char* env = std::getenv("NIMBUS_ETCD_MODULE"); env != nullptr && *env != '\0') return {env};
  std::vector<std::string> paths;
  if (const std::string dir = executable_dir(); !dir.empty()) paths.push_back(dir + "/" + kEtcdModuleName);
#ifdef NIMBUS_ETCD_MODULE_BUILD_PATH
  if (std::find(paths.begin(), paths.end(), NIMBUS_ETCD_MODULE_BUILD_PATH) == paths.end())
    paths.push_back(NIMBUS_ETCD_MODULE_BUILD_PATH);
#endif
  return paths;
}

struct Loaded {
  EtcdBackendFactory factory = nullptr;
  std::string error;
};

Loaded load() {
  const bool from_env = std::getenv("NIMBUS_ETCD_MODULE") != nullptr && *std::getenv("NIMBUS_ETCD_MODULE") != '\0';
  std::string tried;
  for (const auto& path : candidate_paths()) {
    if (!tried.empty()) tried += "; ";
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      tried += path + ": " + std::strerror(errno);
      continue;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      tried += path + ": " + (why != nullptr ? why : "dlopen failed");
      continue;
    }
    auto* factory = reinterpret_cast<EtcdBackendFactory>(dlsym(handle, NIMBUS_ETCD_BACKEND_FACTORY));
    if (factory == nullptr) {
      tried += path + ": no symbol " NIMBUS_ETCD_BACKEND_FACTORY " (a module from another Nimbus version?)";
      continue;  // left loaded: unloading a half-initialised gRPC is riskier than the memory
    }
    return {factory, {}};
  }
  return {nullptr, std::string("etcd: cannot load the gRPC client module ") + kEtcdModuleName + " (tried " + tried +
                       "); " + (from_env ? "fix NIMBUS_ETCD_MODULE" : "install it next to the nimbus binary, or set NIMBUS_ETCD_MODULE to its path") +
                       " (built by `ninja nimbus_etcd_grpc`, which `ninja nimbus` includes)"};
}

} // namespace

EtcdBackendFactory etcd_backend_factory() {
  static const Loaded loaded = load();  // thread-safe, once per process
  if (loaded.factory == nullptr) throw EtcdError(loaded.error, false);
  return loaded.factory;
}

} // namespace nimbus::cloud::etcd
