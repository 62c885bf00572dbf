#pragma once
// An error in an instance file, located precisely so the user can fix it: "file:line: message".
#include <cstddef>
#include <stdexcept>
#include <string>

namespace nimbus::cloud::placement {

class InputError : public std::runtime_error {
public:
  InputError(std::string file, std::size_t line, const std::string& message)
      : std::runtime_error(file + ":" + std::to_string(line) + ": " + message), file_(std::move(file)),
        line_(line), message_(message) {}

  const std::string& file() const { return file_; }
  std::size_t line() const { return line_; }
  const std::string& message() const { return message_; }

private:
  std::string file_;
  std::size_t line_;
  std::string message_;
};

} // namespace nimbus::cloud::placement
