#include "machine/gdb/stub.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "machine/gdb/registers.hpp"
#include "machine/hart.hpp"

namespace nimbus::machine::gdb {

namespace {

constexpr size_t kPacketSize = 0x4000;       // advertised: the largest packet we accept
constexpr size_t kMaxMemoryBytes = 0x1000;   // per m/M/X: replies stay well under kPacketSize
constexpr const char* kBadArguments = "E22"; // EINVAL: a malformed command
constexpr const char* kBadAddress = "E14";   // EFAULT: memory that cannot be reached
constexpr const char* kBadThread = "E02";

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// "ADDR,LEN" with optional ":REST" after it.
bool parse_address_length(std::string_view text, uint64_t& address, uint64_t& length, std::string_view* rest) {
  const size_t comma = text.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view len_text = text.substr(comma + 1);
  if (rest != nullptr) {
    const size_t colon = len_text.find(':');
    if (colon == std::string_view::npos) return false;
    *rest = len_text.substr(colon + 1);
    len_text = len_text.substr(0, colon);
  }
  return parse_hex(text.substr(0, comma), address) && parse_hex(len_text, length);
}

unsigned register_bytes(unsigned number) { return number == kFflags || number == kFrm || number == kFcsr ? 4 : 8; }

} // namespace

Stub::Stub(Transport& transport, std::vector<Hart*> harts)
    : transport_(transport), harts_(std::move(harts)), reader_(kPacketSize) {}

bool Stub::on_breakpoint(unsigned hart) const {
  return hart < harts_.size() && std::binary_search(breakpoints_.begin(), breakpoints_.end(), harts_[hart]->pc());
}

void Stub::apply_breakpoints() {
  for (Hart* h : harts_) h->set_breakpoints(breakpoints_);
}

void Stub::forget_debugger() {
  breakpoints_.clear();
  apply_breakpoints();
  events_.clear();
  reader_ = PacketReader(kPacketSize);
  no_ack_ = false;
  awaiting_stop_ = false;
  was_connected_ = false;
  c_hart_.reset();
  last_reply_.clear();
}

bool Stub::read_events(std::chrono::milliseconds timeout) {
  uint8_t buffer[4096];
  const long n = transport_.receive(buffer, sizeof(buffer), timeout);
  if (n < 0) return false;
  reader_.feed(buffer, static_cast<size_t>(n), events_);
  return true;
}

std::optional<StopReason> Stub::poll() {
  if (!transport_.connected(std::chrono::milliseconds(0))) return std::nullopt;
  if (!was_connected_) {
    was_connected_ = true;
    return StopReason::attached;
  }
  if (!read_events(std::chrono::milliseconds(0))) {
    forget_debugger(); // hung up while running: nothing to report to
    return std::nullopt;
  }
  const auto interrupt = std::find_if(events_.begin(), events_.end(),
                                      [](const Event& e) { return e.kind == Event::Kind::interrupt; });
  if (interrupt == events_.end()) return std::nullopt;
  events_.erase(interrupt);
  return StopReason::interrupted;
}

void Stub::reply(std::string payload) {
  last_reply_ = encode_packet(payload);
  transport_.send(last_reply_);
}

std::string Stub::stop_reply() const {
  const unsigned signal = reason_ == StopReason::interrupted ? 2 : 5;
  return fmt::format("T{:02x}thread:{:x};", signal, stop_hart_ + 1);
}

Resume Stub::serve(StopReason reason, unsigned hart, std::chrono::milliseconds patience) {
  if (!transport_.connected(patience)) return {};
  was_connected_ = true;
  if (awaiting_stop_ || reason != reason_ || hart != stop_hart_) {
    reason_ = reason;
    stop_hart_ = std::min<unsigned>(hart, static_cast<unsigned>(harts_.size() - 1));
    g_hart_ = stop_hart_;
  }
  if (awaiting_stop_) {
    awaiting_stop_ = false;
    reply(stop_reply());
  }
  for (;;) {
    while (!events_.empty()) {
      Event e = std::move(events_.front());
      events_.erase(events_.begin());
      switch (e.kind) {
      case Event::Kind::ack:
      case Event::Kind::interrupt: break; // already stopped
      case Event::Kind::nack:
        if (!last_reply_.empty()) transport_.send(last_reply_);
        break;
      case Event::Kind::error:
        if (!no_ack_) transport_.send("-");
        break;
      case Event::Kind::packet: {
        if (!no_ack_) transport_.send("+");
        if (std::optional<Resume> resume = handle(e.payload)) {
          if (resume->kind == Resume::Kind::detached || resume->kind == Resume::Kind::kill) {
            transport_.disconnect();
            forget_debugger();
          } else {
            awaiting_stop_ = true;
          }
          return *resume;
        }
        break;
      }
      }
    }
    if (!read_events(patience)) {
      forget_debugger(); // hung up: run on, as QEMU does
      return Resume{Resume::Kind::detached, 0};
    }
    if (events_.empty()) return {};
  }
}

void Stub::exited(int code) {
  if (!transport_.connected(std::chrono::milliseconds(0))) return;
  if (awaiting_stop_) reply(fmt::format("W{:02x}", static_cast<unsigned>(code) & 0xff));
  transport_.disconnect();
  forget_debugger();
}

void Stub::terminated() {
  if (!transport_.connected(std::chrono::milliseconds(0))) return;
  if (awaiting_stop_) reply("X09"); // as if by SIGKILL
  transport_.disconnect();
  forget_debugger();
}

std::optional<unsigned> Stub::thread(std::string_view id, bool allow_any) const {
  if (id == "-1" || id == "0") return allow_any ? std::optional<unsigned>(g_hart_) : std::nullopt;
  uint64_t value = 0;
  if (!parse_hex(id, value) || value == 0 || value > harts_.size()) return std::nullopt;
  return static_cast<unsigned>(value - 1);
}

std::string Stub::read_memory(std::string_view args) {
  uint64_t address = 0, length = 0;
  if (!parse_address_length(args, address, length, nullptr)) return kBadArguments;
  length = std::min<uint64_t>(length, kMaxMemoryBytes);
  std::vector<uint8_t> bytes(length);
  size_t done = 0;
  harts_[g_hart_]->debug_read(address, bytes.data(), bytes.size(), done);
  if (done == 0 && length != 0) return kBadAddress;
  return to_hex(bytes.data(), done); // a partial read returns what could be read
}

std::string Stub::write_memory(std::string_view args, bool binary) {
  uint64_t address = 0, length = 0;
  std::string_view data;
  if (!parse_address_length(args, address, length, &data)) return kBadArguments;
  if (length > kPacketSize) return kBadArguments;
  std::vector<uint8_t> bytes;
  if (binary) {
    const std::optional<std::string> raw = unescape_binary(data);
    if (!raw) return kBadArguments;
    bytes.assign(raw->begin(), raw->end());
  } else if (!from_hex(data, bytes)) {
    return kBadArguments;
  }
  if (bytes.size() != length) return kBadArguments;
  size_t done = 0;
  if (!harts_[g_hart_]->debug_write(address, bytes.data(), bytes.size(), done)) return kBadAddress;
  return "OK";
}

std::string Stub::breakpoint(std::string_view args, bool insert) {
  // "TYPE,ADDR,KIND": types 0 (software) and 1 (hardware) are the same thing here, since
  // breakpoints are checked by the run loop rather than written into guest memory.
  if (args.size() < 2 || (args[0] != '0' && args[0] != '1') || args[1] != ',') return "";
  const std::string_view rest = args.substr(2);
  const size_t comma = rest.find(',');
  uint64_t address = 0, kind = 0;
  if (comma == std::string_view::npos || !parse_hex(rest.substr(0, comma), address)) return kBadArguments;
  std::string_view kind_text = rest.substr(comma + 1);
  kind_text = kind_text.substr(0, kind_text.find(';')); // conditions are not supported: ignored
  if (!parse_hex(kind_text, kind) || (kind != 2 && kind != 4)) return kBadArguments;
  const auto it = std::lower_bound(breakpoints_.begin(), breakpoints_.end(), address);
  const bool present = it != breakpoints_.end() && *it == address;
  if (insert && !present) {
    if (breakpoints_.size() >= 4096) return "E12"; // ENOMEM: a bound on what a debugger can make us keep
    breakpoints_.insert(it, address);
  } else if (!insert && present) {
    breakpoints_.erase(it);
  }
  apply_breakpoints();
  return "OK";
}

std::string Stub::query_xfer(std::string_view args) {
  // "features:read:target.xml:OFFSET,LENGTH"
  constexpr std::string_view kPrefix = "features:read:";
  if (!starts_with(args, kPrefix)) return "";
  args.remove_prefix(kPrefix.size());
  const size_t colon = args.find(':');
  if (colon == std::string_view::npos) return kBadArguments;
  if (args.substr(0, colon) != "target.xml") return "E00"; // no such annex
  uint64_t offset = 0, length = 0;
  if (!parse_address_length(args.substr(colon + 1), offset, length, nullptr)) return kBadArguments;
  const std::string& xml = target_description();
  if (offset >= xml.size()) return "l";
  length = std::min<uint64_t>(length, kPacketSize / 2);
  const std::string chunk = xml.substr(offset, length);
  return (offset + chunk.size() >= xml.size() ? "l" : "m") + escape_binary(chunk);
}

std::optional<Resume> Stub::handle(const std::string& payload) {
  const std::string_view p = payload;
  if (p.empty()) {
    reply("");
    return std::nullopt;
  }
  Hart& hart = *harts_[g_hart_];
  const std::string_view args = p.substr(1);
  switch (p[0]) {
  case '?':
    reply(stop_reply());
    return std::nullopt;
  case 'g': {
    std::string out;
    for (unsigned r = 0; r < kGeneralRegisters; ++r) out += to_hex_le(*read_register(hart, r), 8);
    reply(out);
    return std::nullopt;
  }
  case 'G': {
    if (args.size() != kGeneralRegisters * 16) {
      reply(kBadArguments);
      return std::nullopt;
    }
    uint64_t values[kGeneralRegisters];
    for (unsigned r = 0; r < kGeneralRegisters; ++r) {
      if (!from_hex_le(args.substr(16 * r, 16), 8, values[r])) {
        reply(kBadArguments);
        return std::nullopt;
      }
    }
    for (unsigned r = 0; r < kGeneralRegisters; ++r) write_register(hart, r, values[r]);
    reply("OK");
    return std::nullopt;
  }
  case 'p': {
    uint64_t number = 0;
    std::optional<uint64_t> value;
    if (parse_hex(args, number) && number < register_count())
      value = read_register(hart, static_cast<unsigned>(number));
    reply(value ? to_hex_le(*value, register_bytes(static_cast<unsigned>(number))) : kBadArguments);
    return std::nullopt;
  }
  case 'P': {
    const size_t eq = args.find('=');
    uint64_t number = 0, value = 0;
    const bool ok = eq != std::string_view::npos && parse_hex(args.substr(0, eq), number) && number < register_count() &&
                    from_hex_le(args.substr(eq + 1), register_bytes(static_cast<unsigned>(number)), value) &&
                    write_register(hart, static_cast<unsigned>(number), value);
    reply(ok ? "OK" : kBadArguments);
    return std::nullopt;
  }
  case 'm': reply(read_memory(args)); return std::nullopt;
  case 'M': reply(write_memory(args, false)); return std::nullopt;
  case 'X': reply(write_memory(args, true)); return std::nullopt;
  case 'Z': reply(breakpoint(args, true)); return std::nullopt;
  case 'z': reply(breakpoint(args, false)); return std::nullopt;
  case 'c':
  case 's':
  case 'C':
  case 'S': {
    // c [ADDR], s [ADDR], C SIG[;ADDR], S SIG[;ADDR]: signals mean nothing to a bare hart.
    std::string_view address_text = args;
    if (p[0] == 'C' || p[0] == 'S') {
      const size_t semi = args.find(';');
      address_text = semi == std::string_view::npos ? std::string_view{} : args.substr(semi + 1);
    }
    const bool step = p[0] == 's' || p[0] == 'S';
    const unsigned target = step ? c_hart_.value_or(stop_hart_) : stop_hart_;
    if (!address_text.empty()) {
      uint64_t address = 0;
      if (!parse_hex(address_text, address)) {
        reply(kBadArguments);
        return std::nullopt;
      }
      harts_[target]->set_pc(address);
    }
    if (!step && c_hart_) return Resume{Resume::Kind::run, *c_hart_, true};
    return Resume{step ? Resume::Kind::step : Resume::Kind::run, target};
  }
  case 'D':
    reply("OK");
    return Resume{Resume::Kind::detached, 0};
  case 'k': return Resume{Resume::Kind::kill, 0};
  case 'H': {
    if (args.empty() || (args[0] != 'g' && args[0] != 'c')) {
      reply(kBadArguments);
      return std::nullopt;
    }
    const std::string_view id = args.substr(1);
    if (args[0] == 'c' && (id == "-1" || id == "0")) {
      c_hart_.reset();
      reply("OK");
      return std::nullopt;
    }
    const std::optional<unsigned> t = thread(id, true);
    if (!t) {
      reply(kBadThread);
      return std::nullopt;
    }
    (args[0] == 'g' ? g_hart_ : c_hart_.emplace()) = *t;
    reply("OK");
    return std::nullopt;
  }
  case 'T': reply(thread(args, false) ? "OK" : kBadThread); return std::nullopt;
  default: break;
  }
  if (p == "vCont?") {
    reply("vCont;c;C;s;S");
    return std::nullopt;
  }
  if (starts_with(p, "vCont;")) {
    // All-stop: "vCont;s:2;c" steps thread 2 (the others stay stopped: the step ends at once),
    // "vCont;c:2" runs thread 2 alone, "vCont;c" runs every hart. Signals are ignored.
    std::optional<Resume> resume;
    std::string_view rest = p.substr(6);
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      const std::string_view action = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      const size_t colon = action.find(':');
      std::string_view verb = action.substr(0, colon);
      if (verb.size() == 3 && (verb[0] == 'C' || verb[0] == 'S')) verb = verb.substr(0, 1); // Csig, Ssig
      if (verb != "c" && verb != "C" && verb != "s" && verb != "S") {
        reply(kBadArguments);
        return std::nullopt;
      }
      std::optional<unsigned> target;
      if (colon != std::string_view::npos) {
        const std::string_view id = action.substr(colon + 1);
        if (id != "-1" && !(target = thread(id, false))) {
          reply(kBadThread);
          return std::nullopt;
        }
      }
      const bool step = verb == "s" || verb == "S";
      if (resume) continue; // the first action that names a thread (or all) decides
      if (step)
        resume = Resume{Resume::Kind::step, target.value_or(stop_hart_)};
      else
        resume = target ? Resume{Resume::Kind::run, *target, true} : Resume{Resume::Kind::run, 0};
    }
    if (!resume) {
      reply(kBadArguments);
      return std::nullopt;
    }
    return resume;
  }
  if (starts_with(p, "qSupported")) {
    reply(fmt::format("PacketSize={:x};qXfer:features:read+;QStartNoAckMode+", kPacketSize));
  } else if (p == "QStartNoAckMode") {
    reply("OK"); // acknowledged in ack mode; from here on neither side acknowledges
    no_ack_ = true;
  } else if (starts_with(p, "qXfer:")) {
    reply(query_xfer(p.substr(6)));
  } else if (p == "qfThreadInfo") {
    std::string out = "m";
    for (size_t i = 0; i < harts_.size(); ++i) out += fmt::format("{}{:x}", i == 0 ? "" : ",", i + 1);
    reply(out);
  } else if (p == "qsThreadInfo") {
    reply("l");
  } else if (p == "qC") {
    reply(fmt::format("QC{:x}", g_hart_ + 1));
  } else if (starts_with(p, "qThreadExtraInfo,")) {
    const std::optional<unsigned> t = thread(p.substr(17), false);
    if (!t) {
      reply(kBadThread);
    } else {
      const Hart& h = *harts_[*t];
      const std::string text = fmt::format("hart {}, {}{}-mode{}", h.id(), h.virtualization() ? "V" : "",
                                           "USHM"[h.privilege() & 3], h.waiting() ? ", waiting (wfi)" : "");
      reply(to_hex(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    }
  } else if (starts_with(p, "qAttached")) {
    reply("1"); // attached to a running machine: quitting gdb detaches rather than kills
  } else if (p == "qSymbol::") {
    reply("OK");
  } else {
    reply(""); // unsupported
  }
  return std::nullopt;
}

} // namespace nimbus::machine::gdb
