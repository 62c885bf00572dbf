#include "cloud/etcd/etcd_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace nimbus::cloud::etcd {

namespace fs = std::filesystem;

int pick_free_port(const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    throw std::runtime_error("pick_free_port: not an IPv4 address: " + host);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error("pick_free_port: bind " + host + ": " + std::strerror(err));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

EtcdProcess::EtcdProcess(EtcdProcessOptions options) : options_(std::move(options)) {}

EtcdProcess::~EtcdProcess() {
  try {
    stop();
  } catch (...) {
  }
}

std::string EtcdProcess::endpoint() const {
  return (tls() ? "https://" : "http://") + options_.host + ":" + std::to_string(client_port_);
}

void EtcdProcess::start() {
  if (pid_ > 0) return;
  if (data_dir_.empty()) {
    if (options_.data_dir.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "nimbus-etcd.XXXXXX").string();
      if (!::mkdtemp(tmpl.data())) throw std::runtime_error(std::string("etcd: mkdtemp: ") + std::strerror(errno));
      data_dir_ = tmpl;
      temp_dir_ = true;
    } else {
      data_dir_ = options_.data_dir;
      std::error_code ec;
      fs::create_directories(data_dir_, ec);
      if (ec) throw std::runtime_error("etcd: cannot create data dir " + data_dir_ + ": " + ec.message());
    }
  }
  if (client_port_ == 0) client_port_ = options_.client_port ? options_.client_port : pick_free_port(options_.host);
  if (peer_port_ == 0) {
    peer_port_ = options_.peer_port ? options_.peer_port : pick_free_port(options_.host);
    while (peer_port_ == client_port_) peer_port_ = pick_free_port(options_.host);
  }
  std::string log = options_.log_file;
  if (log.empty()) {
    own_log_ = (fs::path(data_dir_) / "etcd.log").string();
    log = own_log_;
  }
  if (options_.tls_cert.empty() != options_.tls_key.empty())
    throw std::runtime_error("etcd: TLS wants both a certificate and a key");
  const std::string client_url = endpoint();
  const std::string peer_url = (tls() ? "https://" : "http://") + options_.host + ":" + std::to_string(peer_port_);
  std::vector<std::string> args = {
      options_.binary,
      "--name", options_.name,
      "--data-dir", (fs::path(data_dir_) / "member-data").string(),
      "--listen-client-urls", client_url,
      "--advertise-client-urls", client_url,
      "--listen-peer-urls", peer_url,
      "--initial-advertise-peer-urls", peer_url,
      "--initial-cluster", options_.name + "=" + peer_url,
      "--initial-cluster-state", "new",
      "--logger", "zap",
      "--log-level", "warn",
  };
  if (tls()) {
    args.insert(args.end(), {"--cert-file", options_.tls_cert, "--key-file", options_.tls_key, "--peer-cert-file",
                             options_.tls_cert, "--peer-key-file", options_.tls_key});
    if (!options_.tls_ca.empty())
      args.insert(args.end(), {"--trusted-ca-file", options_.tls_ca, "--client-cert-auth", "--peer-trusted-ca-file",
                               options_.tls_ca, "--peer-client-cert-auth"});
  }
  for (const auto& a : options_.extra_args) args.push_back(a);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = ::getpid();
  const bool die_with_parent = options_.die_with_parent;
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("etcd: fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
    } else {
      ::setsid();
    }
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in >= 0) ::dup2(in, 0);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::execvp(argv[0], argv.data());
    const char* err = std::strerror(errno);  // no allocation after fork
    (void)!::write(2, "cannot run ", 11);
    (void)!::write(2, argv[0], std::strlen(argv[0]));
    (void)!::write(2, ": ", 2);
    (void)!::write(2, err, std::strlen(err));
    (void)!::write(2, "\n", 1);
    ::_exit(127);
  }
  pid_ = pid;
  try {
    wait_healthy();
  } catch (...) {
    stop();
    throw;
  }
}

std::string EtcdProcess::log_tail() const {
  const std::string log = options_.log_file.empty() ? own_log_ : options_.log_file;
  std::ifstream in(log);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  std::string tail;
  for (size_t i = lines.size() > 8 ? lines.size() - 8 : 0; i < lines.size(); ++i) tail += "\n    " + lines[i];
  return tail.empty() ? " (no output)" : tail;
}

void EtcdProcess::wait_healthy() {
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  httplib::Client client(endpoint(), options_.tls_client_cert, options_.tls_client_key);
  if (!options_.tls_ca.empty()) client.set_ca_cert_path(options_.tls_ca.c_str());
  client.set_connection_timeout(0, 300000);
  client.set_read_timeout(1, 0);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      throw std::runtime_error("etcd exited at start (" +
                               (WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                                  : "signal " + std::to_string(WTERMSIG(status))) +
                               "):" + log_tail());
    }
    if (auto res = client.Get("/health"); res && res->status == 200 &&
                                           res->body.find("\"true\"") != std::string::npos)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("etcd at " + endpoint() + " not healthy within " +
                           std::to_string(options_.start_timeout.count()) + " ms:" + log_tail());
}

void EtcdProcess::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);  // a paused etcd cannot act on SIGTERM
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + options_.stop_grace;
    bool gone = false;
    while (!gone && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) gone = true;
      else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!gone) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  if (temp_dir_ && !data_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(data_dir_, ec);
    data_dir_.clear();
    temp_dir_ = false;
    client_port_ = peer_port_ = 0;
  }
}

void EtcdProcess::pause() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGSTOP);
  // kill() returns before every thread has stopped: until the group stop completes, etcd can still
  // answer a request sent after pause() (seen in a unit test under load). Our own child reports
  // the stop to waitpid(WUNTRACED); anything else (a detached etcd) just gets the signal.
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WUNTRACED);
  } while (r < 0 && errno == EINTR);
  if (r == pid_ && (WIFEXITED(status) || WIFSIGNALED(status))) pid_ = -1;   // it died meanwhile
}

void EtcdProcess::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

void EtcdProcess::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

void EtcdProcess::detach() {
  pid_ = -1;
  temp_dir_ = false;
}

} // namespace nimbus::cloud::etcd
