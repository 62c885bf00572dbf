#include "cli/cloud_client.hpp"

#include <httplib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace nimbus::cli {

using nlohmann::json;

void add_cloud_target_options(CLI::App& cmd, CloudTarget& t, bool with_json) {
  cmd.add_option("--cloud", t.cloud_dir, "cloud dir of `nimbus cloud up` (its cloud.json and admin token)");
  cmd.add_option("--url", t.url, "controller URL (default: NIMBUS_URL, else the cloud dir's)");
  cmd.add_option("--token", t.token, "bearer token (default: NIMBUS_TOKEN, else the cloud dir's admin token)");
  cmd.add_option("--ca", t.ca_file,
                 "CA bundle to verify an HTTPS controller (default: NIMBUS_CA, else the cloud dir's pki/ca.crt for its controller)");
  if (with_json) cmd.add_flag("--json", t.json, "print JSON instead of a table");
}

std::string default_cloud_dir() {
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) return std::string(xdg) + "/nimbus-cloud";
  return fmt::format("/tmp/nimbus-cloud-{}", ::getuid());
}

namespace {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}
} // namespace

CloudClient::CloudClient(const CloudTarget& t, const std::string& command) : command_(command), ca_file_(t.ca_file) {
  url_ = t.url;
  token_ = t.token;
  if (url_.empty() && t.cloud_dir.empty())
    if (const char* e = std::getenv("NIMBUS_URL"); e && *e) url_ = e;
  if (token_.empty() && t.cloud_dir.empty())
    if (const char* e = std::getenv("NIMBUS_TOKEN"); e && *e) token_ = e;
  if (ca_file_.empty())
    if (const char* e = std::getenv("NIMBUS_CA"); e && *e) ca_file_ = e;
  const std::string dir = t.cloud_dir.empty() ? default_cloud_dir() : t.cloud_dir;
  const std::string text = read_file(dir + "/cloud.json");
  json cloud;  // cloud.json, parsed once (stays null when missing or not JSON)
  std::string parse_error;
  if (!text.empty()) {
    try {
      cloud = json::parse(text);
    } catch (const std::exception& e) {
      parse_error = e.what();
    }
  }
  if (url_.empty() || token_.empty()) {
    if (text.empty()) {
      fmt::print(stderr,
                 "nimbus {}: no controller to talk to: {}/cloud.json does not exist; start one with `nimbus cloud up`, or "
                 "give --url and --token (or NIMBUS_URL and NIMBUS_TOKEN)\n",
                 command_, dir);
      ok_ = false;
      return;
    }
    try {
      if (!parse_error.empty()) throw std::runtime_error(parse_error);
      if (url_.empty()) url_ = cloud.at("controller").at("url").get<std::string>();
      if (token_.empty()) token_ = read_file(cloud.value("admin_token_file", dir + "/admin.token"));
    } catch (const std::exception& e) {
      fmt::print(stderr, "nimbus {}: {}/cloud.json is not what `nimbus cloud up` writes ({}); give --url and --token\n", command_,
                 dir, e.what());
      ok_ = false;
      return;
    }
    if (token_.empty()) {
      fmt::print(stderr, "nimbus {}: no token: give --token or NIMBUS_TOKEN (the cloud dir's admin.token is unreadable)\n", command_);
      ok_ = false;
    }
  }
  // A controller of `cloud up` serves HTTPS with a certificate of the cloud's own CA: trust that CA
  // when talking to that controller (whichever way its URL was given) and no other CA was named.
  if (ca_file_.empty() && cloud.is_object()) {
    try {
      if (cloud.at("controller").value("url", "") == url_ && cloud.contains("pki")) ca_file_ = cloud["pki"].value("ca", "");
    } catch (const std::exception&) {
    }
  }
}

ApiResponse CloudClient::request(const std::string& method, const std::string& path, const std::string& body,
                                 const std::string& content_type) {
  ApiResponse out;
  httplib::Client client(url_);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(60));
  client.set_write_timeout(std::chrono::seconds(10));
  if (!ca_file_.empty()) client.set_ca_cert_path(ca_file_.c_str());
  httplib::Headers headers{{"Authorization", "Bearer " + token_}};
  httplib::Result r = method == "GET"      ? client.Get(path, headers)
                      : method == "DELETE" ? client.Delete(path, headers, body, content_type)
                      : method == "PUT"    ? client.Put(path, headers, body, content_type)
                                           : client.Post(path, headers, body, content_type);
  if (!r) {
    out.error = httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.raw = r->body;
  try {
    out.body = r->body.empty() ? json() : json::parse(r->body);
  } catch (const std::exception&) {
    out.body = json();
  }
  return out;
}

int CloudClient::stream(const std::string& path, const std::function<bool(const char*, size_t)>& on_data) {
  httplib::Client client(url_);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::hours(24));
  if (!ca_file_.empty()) client.set_ca_cert_path(ca_file_.c_str());
  httplib::Headers headers{{"Authorization", "Bearer " + token_}};
  int status = 0;
  auto r = client.Get(
      path, headers,
      [&](const httplib::Response& head) {
        status = head.status;
        return true;
      },
      [&](const char* data, size_t n) { return status == 200 ? on_data(data, n) : true; });
  return r ? r->status : status;
}

int CloudClient::fail(const ApiResponse& r) const {
  if (r.status == 0 && r.error.find("SSL") != std::string::npos) {
    fmt::print(stderr, "nimbus {}: TLS with {} failed ({}): give the CA that signed its certificate with --ca FILE (or NIMBUS_CA)\n", command_, url_,
               r.error);
    return 3;
  }
  if (r.status == 0) {
    fmt::print(stderr, "nimbus {}: the controller at {} did not answer ({}); is it running? (nimbus cloud status)\n", command_, url_,
               r.error);
    return 3;
  }
  std::string message = r.body.is_object() && r.body.contains("error") ? json_text(r.body["error"]) : r.raw;
  fmt::print(stderr, "nimbus {}: {} (HTTP {})\n", command_, message, r.status);
  return 1;
}

std::string json_text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.2f}", v.get<double>());
  return v.dump();
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    fmt::print("{}\n", s);
  };
  line(header);
  for (const auto& row : rows) line(row);
  if (rows.empty()) fmt::print("(none)\n");
}

} // namespace nimbus::cli
