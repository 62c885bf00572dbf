// Loading the etcd client's gRPC module (etcd_module.cpp). Each case runs in a fresh process
// (a threadsafe death test re-executes the binary), since the module is loaded once per process.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "cloud/etcd/etcd_client.hpp"

namespace nimbus::cloud::etcd {
namespace {

// Constructs a Client with NIMBUS_ETCD_MODULE set to `module`; exits 0 if it loaded, 3 with the
// error on stderr if not.
[[noreturn]] void construct_with_module(const char* module) {
  setenv("NIMBUS_ETCD_MODULE", module, 1);
  try {
    ClientOptions o;
    o.endpoints = {"http://127.0.0.1:1"};
    Client client(o);
  } catch (const EtcdError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::_Exit(3);
  }
  std::_Exit(0);
}

TEST(EtcdModule, MissingModuleNamesThePathAndTheFix) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(construct_with_module("/nonexistent/nimbus-etcd-grpc.so"), testing::ExitedWithCode(3),
              "tried /nonexistent/nimbus-etcd-grpc.so: No such file or directory.*NIMBUS_ETCD_MODULE");
}

TEST(EtcdModule, AFileThatIsNotAModuleIsRefusedWithDlerror) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // Any regular file that is not a shared object: dlopen's own reason is passed on.
  EXPECT_EXIT(construct_with_module(NIMBUS_TEST_DATA_DIR "/../CMakeLists.txt"), testing::ExitedWithCode(3),
              "cannot load the gRPC client module.*CMakeLists.txt: .*CMakeLists.txt");
}

TEST(EtcdModule, TheBuiltModuleLoadsThroughTheOverride) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The build path the loader falls back to, given explicitly: constructing needs no etcd.
  EXPECT_EXIT(construct_with_module(NIMBUS_ETCD_MODULE_BUILD_PATH), testing::ExitedWithCode(0), "");
}

} // namespace
} // namespace nimbus::cloud::etcd
