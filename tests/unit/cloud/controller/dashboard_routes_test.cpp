// The dashboard's file resolution: only plain paths inside web/dashboard and
// web/node_modules/@xterm resolve; dot segments, dot files, backslashes and symlinks out do not.
#include "cloud/controller/dashboard_routes.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace nimbus::cloud::controller {
namespace {

namespace fs = std::filesystem;

class DashboardFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("nimbus-dashboard-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "web" / "dashboard" / "img");
    fs::create_directories(root_ / "web" / "node_modules" / "@xterm" / "xterm" / "lib");
    write(root_ / "web" / "dashboard" / "index.html", "<!doctype html>");
    write(root_ / "web" / "dashboard" / "app.js", "export {}");
    write(root_ / "web" / "dashboard" / "img" / "logo.svg", "<svg/>");
    write(root_ / "web" / "dashboard" / ".env", "secret");
    write(root_ / "web" / "node_modules" / "@xterm" / "xterm" / "lib" / "xterm.js", "xterm");
    write(root_ / "web" / "node_modules" / "other.js", "other");
    write(root_ / "web" / "secret.txt", "secret");
    fs::create_symlink("../secret.txt", root_ / "web" / "dashboard" / "link.txt");
    fs::create_symlink("/etc", root_ / "web" / "dashboard" / "etc");
    fs::create_symlink("app.js", root_ / "web" / "dashboard" / "alias.js");
  }
  void TearDown() override { fs::remove_all(root_); }
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  std::optional<fs::path> resolve(const std::string& rel) { return resolve_dashboard_file(root_ / "web", rel); }

  fs::path root_;
};

TEST_F(DashboardFilesTest, PlainPathsResolveInsideTheirDirectory) {
  EXPECT_EQ(resolve(""), fs::canonical(root_ / "web" / "dashboard" / "index.html"));
  EXPECT_EQ(resolve("index.html"), fs::canonical(root_ / "web" / "dashboard" / "index.html"));
  EXPECT_EQ(resolve("app.js"), fs::canonical(root_ / "web" / "dashboard" / "app.js"));
  EXPECT_EQ(resolve("img/logo.svg"), fs::canonical(root_ / "web" / "dashboard" / "img" / "logo.svg"));
  EXPECT_EQ(resolve("vendor/xterm/xterm/lib/xterm.js"),
            fs::canonical(root_ / "web" / "node_modules" / "@xterm" / "xterm" / "lib" / "xterm.js"));
  EXPECT_EQ(resolve("alias.js"), fs::canonical(root_ / "web" / "dashboard" / "app.js"));  // a symlink that stays inside
}

TEST_F(DashboardFilesTest, EscapesAndOddPathsDoNotResolve) {
  for (const char* rel : {"../secret.txt", "../../etc/passwd", "img/../../secret.txt", "./app.js", "img//logo.svg", ".env",
                          "link.txt", "etc/passwd", "..\\secret.txt", "img\\logo.svg", "vendor/xterm/../../secret.txt",
                          "vendor/xterm/../other.js", "vendor/xterm/xterm/../../other.js", "vendor/xterm/", "missing.js", "img",
                          "img/"}) {
    EXPECT_FALSE(resolve(rel).has_value()) << rel;
  }
  EXPECT_FALSE(resolve(std::string("app.js\0.png", 11)).has_value());
  EXPECT_FALSE(resolve_dashboard_file(root_ / "nowhere", "index.html").has_value());
}

TEST(DashboardContentType, ByExtension) {
  EXPECT_EQ(dashboard_content_type("/x/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(dashboard_content_type("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(dashboard_content_type("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(dashboard_content_type("a.svg"), "image/svg+xml");
  EXPECT_EQ(dashboard_content_type("a.png"), "image/png");
  EXPECT_EQ(dashboard_content_type("a.bin"), "application/octet-stream");
  EXPECT_EQ(dashboard_content_type("Makefile"), "application/octet-stream");
}

} // namespace
} // namespace nimbus::cloud::controller
