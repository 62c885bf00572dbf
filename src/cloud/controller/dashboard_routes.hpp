#pragma once
// The controller's web dashboard (docs/cloud.md "Dashboard"): static files and one summary
// route, added to the API server by one call so the REST routes stay in api_server.cpp.
//
//   GET /                      302 to /ui/
//   GET /ui/...                files of WEB_DIR/dashboard/ (/ui/ is index.html)
//   GET /ui/vendor/xterm/...   files of WEB_DIR/node_modules/@xterm/ (installed by `npm ci` in web/)
//   GET /v1/dashboard/fleet    admin token: active hosts, the placement lower bound, hosts and
//                              VMs by state (built from Controller::metrics_text())
//   GET /v1/dashboard/vms/{vm}/console
//                              the agent's console relayed as a stream that is never compressed
//                              (browsers get the API's text/plain one gzipped, i.e. only at its
//                              end); same auth as /v1/vms/{vm}/console
//
// Files are served only from inside those two directories: every path segment must be a plain
// name (no "", ".", "..", dot files, backslashes or NULs, after URL decoding) and the resolved
// file, symlinks followed, must still lie inside; anything else is a 404.
#include <filesystem>
#include <optional>
#include <string>

namespace httplib {
class Server;
}

namespace nimbus::cloud::controller {

class Controller;

// Adds the routes above. An empty web_dir means default_web_dir().
void add_dashboard_routes(httplib::Server& server, Controller& controller, const std::string& web_dir);

// WEB_DIR when --web-dir is not given: `web` next to the executable (or in ../share/nimbus/)
// when it holds dashboard/, else the source tree's web/ (compiled in as NIMBUS_WEB_DIR).
std::string default_web_dir();

// The file a path below /ui/ names ("" and "x/" mean index.html), or nullopt when the path is
// unsafe or names no regular file. Exposed for tests.
std::optional<std::filesystem::path> resolve_dashboard_file(const std::filesystem::path& web_dir, const std::string& rel);

// Content type by file extension (application/octet-stream when unknown).
std::string dashboard_content_type(const std::string& path);

} // namespace nimbus::cloud::controller
