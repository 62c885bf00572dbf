// `nimbus cloud up|down|status`: a whole cloud on this machine: a real etcd on loopback, one
// controller and N host agents as separate daemonized processes, recorded in DIR/cloud.json.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/cloud_client.hpp"
#include "cli/cloud_pki.hpp"
#include "cli/commands.hpp"
#include "cloud/controller/logic.hpp"
#include "cloud/etcd/etcd_client.hpp"
#include "cloud/etcd/etcd_process.hpp"

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct CloudUpOptions {
  std::string dir;
  int hosts = 3;
  bool simulate = false;
  double grace = 2.0;
  double consolidate_interval = 10.0;
  double cpu_overcommit = 4.0;
  std::size_t max_batches_in_flight = 1;
  int harts = 0;             // per host; 0: max(1, cores / hosts)
  std::string memory;        // per host, e.g. 1G; empty: half the machine's RAM / hosts
  int disk_gib = 50;
  int lease_ttl = 3;
  std::string kernel, initrd, append = "console=ttyS0";
  bool no_image = false;
  bool tls = true;
  int timeout = 60;
};

std::string cloud_dir(const std::string& d) { return d.empty() ? default_cloud_dir() : fs::absolute(d).string(); }

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("nimbus") : p.string();
}

// Starts argv as a daemon (own session, stdin /dev/null, output to `log`); returns its pid.
pid_t spawn_daemon(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::setsid();
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in >= 0) ::dup2(in, 0);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

bool alive(pid_t pid) {
  if (pid <= 0) return false;
  int status = 0;
  ::waitpid(pid, &status, WNOHANG);  // reap our own children
  return ::kill(pid, 0) == 0;
}

// True when /proc/<pid>/cmdline mentions `what` (guards against a reused pid).
bool process_is(pid_t pid, const std::string& what) {
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid));
  std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmd.find(what) != std::string::npos;
}

void write_secret(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + path);
  const std::string line = text + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    throw std::runtime_error("cannot write " + path);
  }
  ::close(fd);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void write_json(const std::string& path, const json& j) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << j.dump(2) << "\n";
  fs::rename(tmp, path);
}

// The newest complete guest build in the cache guests/build.sh fills (see guests/paths.sh).
std::string find_guest(const std::string& component, const std::string& file) {
  std::string cache;
  if (const char* c = std::getenv("NIMBUS_GUEST_CACHE"); c && *c) cache = c;
  else if (const char* h = std::getenv("HOME"); h && *h) cache = std::string(h) + "/.cache/nimbus/guests";
  std::error_code ec;
  std::string best;
  fs::file_time_type best_time{};
  for (const auto& e : fs::directory_iterator(cache, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(component + "-", 0) != 0) continue;
    if (!fs::exists(e.path() / ".complete") || !fs::exists(e.path() / file)) continue;
    const auto t = fs::last_write_time(e.path() / file, ec);
    if (best.empty() || t > best_time) {
      best = (e.path() / file).string();
      best_time = t;
    }
  }
  return best;
}

int64_t parse_size_mib(const std::string& text) {
  if (text.empty()) return 0;
  std::size_t used = 0;
  const double v = std::stod(text, &used);
  const std::string unit = text.substr(used);
  if (unit.empty() || unit == "M" || unit == "m" || unit == "MiB") return static_cast<int64_t>(v);
  if (unit == "G" || unit == "g" || unit == "GiB") return static_cast<int64_t>(v * 1024);
  throw std::runtime_error("size '" + text + "': use e.g. 512M or 2G");
}

int cloud_up(const CloudUpOptions& o) {
  const std::string dir = cloud_dir(o.dir);
  const std::string cloud_json = dir + "/cloud.json";
  if (fs::exists(cloud_json)) {
    try {
      const json j = json::parse(read_text(cloud_json));
      if (alive(j["controller"].value("pid", 0)) || alive(j["etcd"].value("pid", 0))) {
        fmt::print(stderr, "nimbus cloud up: a cloud is already up in {} (nimbus cloud status; nimbus cloud down first)\n", dir);
        return 1;
      }
    } catch (const std::exception&) {
    }
  }
  if (o.hosts < 1) {
    fmt::print(stderr, "nimbus cloud up: --hosts must be at least 1\n");
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (const char* sub : {"", "/logs", "/disks", "/hosts"}) fs::create_directories(dir + sub);
  const std::string exe = self_exe();
  const std::string admin_file = dir + "/admin.token", agent_file = dir + "/agent.token";
  const std::string admin_token = cloud::controller::random_hex(32);
  write_secret(admin_file, admin_token);
  write_secret(agent_file, cloud::controller::random_hex(32));
  json state{{"dir", dir}, {"admin_token_file", admin_file}, {"agent_token_file", agent_file}, {"prefix", "/nimbus/"},
             {"hosts", json::array()}, {"simulate", o.simulate}};

  // The cloud's CA and a certificate for each of its parts: every TCP endpoint speaks TLS and
  // every connection is authenticated at both ends. etcd wants a client certificate of the CA
  // (the controller's, each agent's, `admin` for this command); the controller and the agents
  // serve HTTPS; live moves between agents run over TLS (docs/migration.md, "TLS").
  std::vector<std::string> names;
  for (int i = 0; i < o.hosts; ++i) names.push_back(fmt::format("host-{}", i));
  CloudPki pki;
  if (o.tls) {
    std::vector<std::string> members{"etcd", "controller", "admin"};
    members.insert(members.end(), names.begin(), names.end());
    try {
      pki = make_cloud_pki(dir, members);
    } catch (const std::exception& e) {
      fmt::print(stderr, "nimbus cloud up: {} (or start with --no-tls)\n", e.what());
      return 1;
    }
    state["pki"] = json{{"ca", pki.ca_cert}, {"admin_cert", pki.of("admin").cert}, {"admin_key", pki.of("admin").key}};
  }
  // `--etcd-ca/--etcd-cert/--etcd-key` for a part of the cloud with its own certificate.
  auto etcd_tls_args = [&](const std::string& member) -> std::vector<std::string> {
    if (!o.tls) return {};
    return {"--etcd-ca", pki.ca_cert, "--etcd-cert", pki.of(member).cert, "--etcd-key", pki.of(member).key};
  };

  // 1. etcd, detached so it outlives this command.
  cloud::etcd::EtcdProcessOptions eo;
  eo.data_dir = dir + "/etcd";
  eo.log_file = dir + "/logs/etcd.log";
  eo.die_with_parent = false;
  if (o.tls) {
    eo.tls_cert = pki.of("etcd").cert;
    eo.tls_key = pki.of("etcd").key;
    eo.tls_ca = pki.ca_cert;
    eo.tls_client_cert = pki.of("admin").cert;
    eo.tls_client_key = pki.of("admin").key;
  }
  cloud::etcd::EtcdProcess etcd(eo);
  try {
    etcd.start();
  } catch (const std::exception& e) {
    fmt::print(stderr, "nimbus cloud up: etcd did not start: {} (is etcd-server installed? scripts/install-deps.sh)\n", e.what());
    return 1;
  }
  const std::string endpoint = etcd.endpoint();
  state["etcd"] = json{{"endpoint", endpoint}, {"pid", etcd.pid()}, {"data_dir", eo.data_dir}};
  etcd.detach();
  write_json(cloud_json, state);

  // 2. The controller.
  const std::string url_file = dir + "/controller.url";
  fs::remove(url_file);
  std::vector<std::string> ctl{exe, "controller", "--etcd", endpoint, "--listen", "127.0.0.1:0", "--url-file", url_file,
                               "--admin-token-file", admin_file, "--agent-token-file", agent_file, "--disks-dir", dir + "/disks",
                               "--grace", fmt::format("{}", o.grace), "--consolidate-interval", fmt::format("{}", o.consolidate_interval),
                               "--cpu-overcommit", fmt::format("{}", o.cpu_overcommit), "--id", "controller-0"};
  if (o.tls) {
    const auto etls = etcd_tls_args("controller");
    ctl.insert(ctl.end(), etls.begin(), etls.end());
    ctl.insert(ctl.end(), {"--tls-cert", pki.of("controller").cert, "--tls-key", pki.of("controller").key, "--agent-ca", pki.ca_cert});
  }
  if (o.max_batches_in_flight != 1) ctl.insert(ctl.end(), {"--max-batches-in-flight", std::to_string(o.max_batches_in_flight)});
  const pid_t ctl_pid = spawn_daemon(ctl, dir + "/logs/controller.log");
  state["controller"] = json{{"pid", ctl_pid}, {"url", ""}, {"log", dir + "/logs/controller.log"}};
  write_json(cloud_json, state);
  std::string url;
  for (int i = 0; i < o.timeout * 10 && url.empty(); ++i) {
    if (!alive(ctl_pid)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (fs::exists(url_file)) url = read_text(url_file);
  }
  if (url.empty()) {
    fmt::print(stderr, "nimbus cloud up: the controller did not start; see {}/logs/controller.log (nimbus cloud down cleans up)\n", dir);
    return 1;
  }
  state["controller"]["url"] = url;
  write_json(cloud_json, state);

  // 3. The host agents, each with its share of the machine.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int harts = o.harts > 0 ? o.harts : std::max(1, cores / o.hosts);
  struct sysinfo si {};
  ::sysinfo(&si);
  const int64_t ram_mib = static_cast<int64_t>(si.totalram) * si.mem_unit / (1024 * 1024);
  const int64_t memory_mib = !o.memory.empty() ? parse_size_mib(o.memory) : std::max<int64_t>(256, ram_mib / 2 / o.hosts);
  for (int i = 0; i < o.hosts; ++i) {
    const std::string name = names[static_cast<std::size_t>(i)];
    std::vector<std::string> argv{exe, "host", "--name", name, "--etcd", endpoint, "--harts", std::to_string(harts), "--memory",
                                  fmt::format("{}M", memory_mib), "--disk-gib", std::to_string(o.disk_gib), "--dir",
                                  dir + "/hosts/" + name, "--disks-dir", dir + "/disks", "--listen", "127.0.0.1:0", "--token-file",
                                  agent_file, "--lease-ttl", std::to_string(o.lease_ttl)};
    if (o.simulate) argv.push_back("--simulate");
    if (o.tls) {
      const auto etls = etcd_tls_args(name);
      argv.insert(argv.end(), etls.begin(), etls.end());
      argv.insert(argv.end(), {"--tls-cert", pki.of(name).cert, "--tls-key", pki.of(name).key, "--tls-ca", pki.ca_cert});
    }
    const pid_t pid = spawn_daemon(argv, dir + "/logs/" + name + ".log");
    state["hosts"].push_back(json{{"name", name}, {"pid", pid}, {"log", dir + "/logs/" + name + ".log"}});
  }
  write_json(cloud_json, state);

  // 4. Wait until every host registered.
  cloud::etcd::ClientOptions co;
  co.endpoints = {endpoint};
  if (o.tls) {
    co.ca_file = pki.ca_cert;
    co.cert_file = pki.of("admin").cert;
    co.key_file = pki.of("admin").key;
  }
  cloud::etcd::Client client(co);
  std::size_t registered = 0;
  for (int i = 0; i < o.timeout * 10; ++i) {
    try {
      registered = client.get_prefix("/nimbus/hosts/").kvs.size();
    } catch (const cloud::etcd::EtcdError&) {
    }
    if (registered >= static_cast<std::size_t>(o.hosts)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (registered < static_cast<std::size_t>(o.hosts)) {
    fmt::print(stderr, "nimbus cloud up: only {} of {} hosts registered in {} s; see {}/logs/host-*.log\n", registered, o.hosts,
               o.timeout, dir);
    return 1;
  }

  // 5. A default image from the guest images, when built.
  std::string kernel = o.kernel, initrd = o.initrd;
  if (kernel.empty()) kernel = find_guest("kernel", "Image");
  if (initrd.empty()) initrd = find_guest("initramfs", "initramfs.cpio.gz");
  std::string image_note = o.no_image ? "no image (--no-image)" : "no guest images found (guests/build.sh builds them; then nimbus image create)";
  if (!o.no_image && !kernel.empty()) {
    CloudTarget target;
    target.url = url;
    target.token = admin_token;
    target.ca_file = pki.ca_cert;
    CloudClient c(target, "cloud up");
    auto r = c.request("POST", "/v1/images",
                       json{{"name", "linux"}, {"kernel", kernel}, {"initrd", initrd}, {"append", o.append}, {"mode", "emulate"}}.dump());
    image_note = r.status == 201 || r.status == 409 ? fmt::format("image 'linux' ({})", kernel)
                                                     : fmt::format("image not registered: HTTP {} {}", r.status, r.raw);
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("cloud up in {:.1f} s: etcd {}, controller {}, {} {}hosts ({} harts, {} MiB each), {}\n", took, endpoint, url, o.hosts,
             o.simulate ? "simulated " : "", harts, memory_mib, image_note);
  fmt::print("  dir {} (cloud.json, logs/, disks/); admin token in {}\n", dir, admin_file);
  fmt::print("  dashboard {}/ui/#token={} (admin; the fragment never leaves the browser)\n", url, admin_token);
  if (o.tls)
    fmt::print("  TLS everywhere, certificates of the cloud's own CA {} (trust it in the browser, or `cloud up --no-tls`)\n",
               pki.ca_cert);
  fmt::print("  try: nimbus tenant create demo{}\n", o.dir.empty() ? "" : " --cloud " + dir);
  fmt::print("       NIMBUS_URL={}{} NIMBUS_TOKEN=<tenant token> nimbus vm create web1 --flavor n1.tiny --image linux\n", url,
             o.tls ? " NIMBUS_CA=" + pki.ca_cert : "");
  fmt::print("       nimbus host list{0}; nimbus cloud status{0}; nimbus cloud down{0}\n", o.dir.empty() ? "" : " --cloud " + dir);
  return 0;
}

void stop_pid(pid_t pid, const std::string& what, int seconds) {
  if (!alive(pid) || !process_is(pid, what)) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < seconds * 20 && alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (alive(pid)) ::kill(pid, SIGKILL);
}

int cloud_down(const std::string& d) {
  const std::string dir = cloud_dir(d);
  const std::string cloud_json = dir + "/cloud.json";
  if (!fs::exists(cloud_json)) {
    fmt::print(stderr, "nimbus cloud down: no cloud in {} (no cloud.json)\n", dir);
    return 1;
  }
  json j;
  try {
    j = json::parse(read_text(cloud_json));
  } catch (const std::exception& e) {
    fmt::print(stderr, "nimbus cloud down: {} unreadable: {}\n", cloud_json, e.what());
    return 1;
  }
  // Agents first (they stop their VMs and revoke their leases), in parallel, then the controller, then etcd.
  std::vector<std::thread> stoppers;
  for (const auto& h : j.value("hosts", json::array())) {
    const pid_t pid = h.value("pid", 0);
    stoppers.emplace_back([pid] { stop_pid(pid, "nimbus", 15); });
  }
  for (auto& t : stoppers) t.join();
  if (j.contains("controller")) stop_pid(j["controller"].value("pid", 0), "nimbus", 5);
  if (j.contains("etcd")) stop_pid(j["etcd"].value("pid", 0), "etcd", 5);
  fs::remove(cloud_json);
  fs::remove(dir + "/controller.url");
  fmt::print("cloud in {} is down (logs kept in {}/logs)\n", dir, dir);
  return 0;
}

int cloud_status(const std::string& d, bool as_json) {
  const std::string dir = cloud_dir(d);
  const std::string cloud_json = dir + "/cloud.json";
  if (!fs::exists(cloud_json)) {
    fmt::print(stderr, "nimbus cloud status: no cloud in {} (nimbus cloud up)\n", dir);
    return 1;
  }
  json j = json::parse(read_text(cloud_json));
  bool all = true;
  auto mark = [&](json& part) {
    const bool up = alive(part.value("pid", 0));
    part["running"] = up;
    all = all && up;
  };
  mark(j["etcd"]);
  mark(j["controller"]);
  for (auto& h : j["hosts"]) mark(h);
  CloudTarget target;
  target.cloud_dir = dir;
  CloudClient c(target, "cloud status");
  json hosts = json::array();
  if (c.ok()) {
    auto r = c.request("GET", "/v1/hosts");
    if (r.status == 200) hosts = r.body;
  }
  j["registered_hosts"] = hosts;
  if (as_json) {
    fmt::print("{}\n", j.dump(2));
    return all ? 0 : 1;
  }
  fmt::print("cloud {}: {}\n", dir, all ? "up" : "DEGRADED (a process is gone; see logs/)");
  fmt::print("  etcd        pid {:<8} {}  {}\n", json_text(j["etcd"]["pid"]), j["etcd"]["running"].get<bool>() ? "running" : "GONE",
             json_text(j["etcd"]["endpoint"]));
  fmt::print("  controller  pid {:<8} {}  {}\n", json_text(j["controller"]["pid"]),
             j["controller"]["running"].get<bool>() ? "running" : "GONE", json_text(j["controller"]["url"]));
  for (const auto& h : j["hosts"]) {
    std::string reg = "not registered";
    for (const auto& r : hosts)
      if (r.value("name", "") == h.value("name", "")) reg = fmt::format("{}, {} VMs", json_text(r["state"]), json_text(r["vms"]));
    fmt::print("  {:<11} pid {:<8} {}  {}\n", json_text(h["name"]), json_text(h["pid"]), h["running"].get<bool>() ? "running" : "GONE", reg);
  }
  return all ? 0 : 1;
}

void register_cloud(CLI::App& app) {
  auto* cloud = app.add_subcommand("cloud", "A whole cloud on this machine: up, down, status");
  cloud->require_subcommand(1);
  {
    auto o = std::make_shared<CloudUpOptions>();
    auto* up = cloud->add_subcommand("up", "Start etcd, a controller and N host agents (daemonized)");
    up->add_option("--dir", o->dir, "cloud dir (default: $XDG_RUNTIME_DIR/nimbus-cloud or /tmp/nimbus-cloud-UID)");
    up->add_option("--hosts", o->hosts, "host agents to start")->capture_default_str();
    up->add_flag("--simulate", o->simulate, "simulated hosts (fake VMs, no VMM processes)");
    up->add_option("--harts", o->harts, "vCPU capacity per host (default: max(1, cores / hosts))");
    up->add_option("--memory", o->memory, "memory per host, e.g. 1G (default: half the RAM / hosts)");
    up->add_option("--disk-gib", o->disk_gib, "disk per host in GiB")->capture_default_str();
    up->add_option("--grace", o->grace, "seconds after a host's lease expired before its VMs move")->capture_default_str();
    up->add_option("--lease-ttl", o->lease_ttl, "host agents' lease TTL in seconds")->capture_default_str();
    up->add_option("--consolidate-interval", o->consolidate_interval, "seconds between consolidation rounds (0: off)")
        ->capture_default_str();
    up->add_option("--cpu-overcommit", o->cpu_overcommit, "vCPUs placed per host hart")->capture_default_str();
    up->add_option("--max-batches-in-flight", o->max_batches_in_flight,
                   "the controller's create batches committing at once (nimbus controller --max-batches-in-flight)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 16u));
    up->add_option("--kernel", o->kernel, "kernel of the default image (default: the guest build's)");
    up->add_option("--initrd", o->initrd, "initramfs of the default image (default: the guest build's)");
    up->add_flag("--no-image", o->no_image, "register no default image");
    up->add_flag("--tls,!--no-tls", o->tls,
                 "(default) make the cloud's CA and a certificate for etcd, the controller, each agent and the admin "
                 "client in DIR/pki/: etcd serves TLS and wants a client certificate of the CA, the controller's and "
                 "agents' APIs are HTTPS (clients of this cloud dir trust its CA: pki.ca in cloud.json), and live moves "
                 "run over TLS with both hosts authenticated. --no-tls: plain HTTP on loopback");
    up->add_option("--timeout", o->timeout, "seconds to wait for each part")->capture_default_str();
    up->callback([o] { set_exit_code(cloud_up(*o)); });
  }
  {
    auto dir = std::make_shared<std::string>();
    auto* down = cloud->add_subcommand("down", "Stop the cloud's agents (and their VMs), controller and etcd");
    down->add_option("--dir,--cloud", *dir, "cloud dir");
    down->callback([dir] { set_exit_code(cloud_down(*dir)); });
  }
  {
    auto dir = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    auto* status = cloud->add_subcommand("status", "Which of the cloud's processes run, and the hosts the controller sees");
    status->add_option("--dir,--cloud", *dir, "cloud dir");
    status->add_flag("--json", *as_json, "print JSON");
    status->callback([dir, as_json] { set_exit_code(cloud_status(*dir, *as_json)); });
  }
}

NIMBUS_REGISTER_COMMAND(register_cloud);

} // namespace
} // namespace nimbus::cli
