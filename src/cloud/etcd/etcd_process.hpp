#pragma once
// A real `etcd` (Debian etcd-server) as a child process on loopback: for the unit and integration
// tests, and for `nimbus cloud up`. start() picks free ports when asked, makes a temporary data
// dir when none is given, and returns once etcd answers /health; stop() sends SIGTERM, then
// SIGKILL after a grace period, and removes the temporary data dir.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace nimbus::cloud::etcd {

struct EtcdProcessOptions {
  std::string binary = "etcd";          // looked up in PATH
  std::string name = "nimbus";          // the member name
  std::string host = "127.0.0.1";       // listen and advertise address
  std::string data_dir;                 // empty: a fresh temporary dir, removed by stop()
  int client_port = 0;                  // 0: pick a free port
  int peer_port = 0;                    // 0: pick a free port
  std::string log_file;                 // empty: etcd's output is discarded
  std::vector<std::string> extra_args;  // appended to the command line
  // TLS on both listeners (client and peer URLs become https://): etcd's certificate and key, and
  // when `tls_ca` is given, clients (and peers) must present a certificate that CA signed
  // (--client-cert-auth). start() checks health with `tls_client_cert`/`tls_client_key`.
  std::string tls_cert, tls_key, tls_ca;
  std::string tls_client_cert, tls_client_key;
  std::chrono::milliseconds start_timeout{15000};
  std::chrono::milliseconds stop_grace{3000};  // SIGTERM, then SIGKILL after this
  // Kill etcd when the thread that started it dies (PR_SET_PDEATHSIG), e.g. for tests. `nimbus
  // cloud up` leaves it off: etcd outlives the command that started it.
  bool die_with_parent = true;
};

class EtcdProcess {
 public:
  explicit EtcdProcess(EtcdProcessOptions options = {});
  ~EtcdProcess();  // stop()
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // Starts etcd and waits until it is healthy. Throws std::runtime_error saying what went wrong
  // (binary missing, exited at once: with the end of its log, not healthy in time).
  void start();
  // Stops it (SIGTERM, then SIGKILL) and removes a temporary data dir. Idempotent.
  void stop();
  // For tests: freeze (SIGSTOP) and thaw (SIGCONT) the process, or kill it hard (SIGKILL, the data
  // dir stays so start() can bring the same member back on the same ports).
  void pause();
  void resume();
  void kill();
  // Forget the process without stopping it (it keeps running; the data dir is kept).
  void detach();

  bool running() const { return pid_ > 0; }
  bool tls() const { return !options_.tls_cert.empty(); }
  pid_t pid() const { return pid_; }
  int client_port() const { return client_port_; }
  int peer_port() const { return peer_port_; }
  std::string endpoint() const;  // http://HOST:CLIENT_PORT (https:// with TLS)
  const std::string& data_dir() const { return data_dir_; }
  const EtcdProcessOptions& options() const { return options_; }

 private:
  void wait_healthy();
  std::string log_tail() const;

  EtcdProcessOptions options_;
  pid_t pid_ = -1;
  int client_port_ = 0;
  int peer_port_ = 0;
  std::string data_dir_;
  bool temp_dir_ = false;
  std::string own_log_;  // a log file of our own when none was given (for error messages)
};

// A TCP port on `host` that is free right now (bind to port 0, read it back, close).
int pick_free_port(const std::string& host = "127.0.0.1");

} // namespace nimbus::cloud::etcd
