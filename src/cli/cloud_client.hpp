#pragma once
// Shared by the people-facing cloud commands (vm, host list/drain, tenant, flavor, image): where
// the controller is and which token to send (--url/--token, NIMBUS_URL/NIMBUS_TOKEN, or the
// cloud dir's cloud.json and admin token), one JSON request, tables, and errors that say what
// to do next.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace nimbus::cli {

struct CloudTarget {
  std::string cloud_dir;  // --cloud
  std::string url;        // --url
  std::string token;      // --token
  std::string ca_file;    // --ca (HTTPS)
  bool json = false;      // --json
};

// Adds --cloud, --url, --token, --ca and --json to a command.
void add_cloud_target_options(CLI::App& cmd, CloudTarget& target, bool with_json = true);

// The default cloud dir: $XDG_RUNTIME_DIR/nimbus-cloud, else /tmp/nimbus-cloud-UID.
std::string default_cloud_dir();

struct ApiResponse {
  int status = 0;  // 0: no answer
  nlohmann::json body;
  std::string raw;
  std::string error;  // transport error
};

class CloudClient {
 public:
  // Resolves URL and token; on failure prints what to do and sets ok() false.
  CloudClient(const CloudTarget& target, const std::string& command);
  bool ok() const { return ok_; }
  const std::string& url() const { return url_; }
  ApiResponse request(const std::string& method, const std::string& path, const std::string& body = "",
                      const std::string& content_type = "application/json");
  // GET streamed to `on_data` (return false to stop); returns the HTTP status (0: no answer).
  int stream(const std::string& path, const std::function<bool(const char*, size_t)>& on_data);
  // Prints an error response as "nimbus CMD: message (HTTP n)" and returns the exit code to use.
  int fail(const ApiResponse& r) const;

 private:
  std::string command_;
  std::string url_;
  std::string token_;
  std::string ca_file_;
  bool ok_ = true;
};

// Prints rows as aligned columns under a header.
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string json_text(const nlohmann::json& v);  // strings without quotes, numbers as is, null as "-"

} // namespace nimbus::cli
