#include "cloud/serving_thread.hpp"

#include <httplib.h>

#include <chrono>

namespace nimbus::cloud {

void ServingThread::start(httplib::Server& server) {
  stop();
  server_ = &server;
  returned_ = false;
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    returned_ = true;
  });
}

void ServingThread::stop() {
  if (!thread_.joinable()) return;
  while (!returned_ && !server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!returned_) server_->stop();
  thread_.join();
}

} // namespace nimbus::cloud
