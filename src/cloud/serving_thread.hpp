#pragma once
// A cpp-httplib server listening on a thread of its own, stopped safely.
//
// Why: in cpp-httplib 0.11 (Debian 12) Server::stop() does nothing until listen_after_bind() has
// set the server running. A stop that came right after the thread started (a test that starts
// and stops an API at once, a signal at startup) was lost, and the thread then sat in accept()
// forever, with the join that waited for it (seen as a unit test hung under ASan).
#include <atomic>
#include <thread>

namespace httplib {
class Server;
}

namespace nimbus::cloud {

class ServingThread {
public:
  ServingThread() = default;
  ServingThread(const ServingThread&) = delete;
  ServingThread& operator=(const ServingThread&) = delete;
  ~ServingThread() { stop(); }

  // `server` is bound already (bind_to_port, bind_to_any_port or a UNIX socket) and outlives
  // this thread's stop().
  void start(httplib::Server& server);
  // Waits until the server runs (or its listen has already returned), stops it and joins.
  void stop();

private:
  httplib::Server* server_ = nullptr;
  std::atomic<bool> returned_{false};
  std::thread thread_;
};

} // namespace nimbus::cloud
