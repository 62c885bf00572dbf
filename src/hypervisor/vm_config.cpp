#include "hypervisor/vm_config.hpp"

#include <fmt/format.h>

#include <array>
#include <fstream>
#include <map>
#include <sstream>
#include <toml++/toml.h>

#include "hypervisor/net_switch.hpp"
#include "machine/size_parser.hpp"

namespace nimbus::hypervisor {

std::string_view to_string(VirtMode mode) {
  switch (mode) {
  case VirtMode::emulate: return "emulate";
  case VirtMode::trap: return "trap";
  case VirtMode::hw: return "hw";
  }
  return "?";
}

namespace {

constexpr std::array kKnownKeys = {"name", "vcpus",  "memory", "mode", "kernel",     "initrd",
                                   "append", "disk", "weight", "cap",  "reservation", "bios",
                                   "readonly", "net", "gdb", "gdb_wait", "balloon", "virtio_console",
                                   "console_input"};

// "file:line: key 'k': what" — the line is left out when toml++ does not know it.
[[noreturn]] void fail(std::string_view source, const toml::source_region& where, std::string_view key,
                       std::string_view what) {
  if (where.begin.line != 0)
    throw ConfigError(fmt::format("{}:{}: key '{}': {}", source, where.begin.line, key, what));
  throw ConfigError(fmt::format("{}: key '{}': {}", source, key, what));
}

std::string_view type_name(toml::node_type type) {
  switch (type) {
  case toml::node_type::table: return "a table";
  case toml::node_type::array: return "an array";
  case toml::node_type::string: return "a string";
  case toml::node_type::integer: return "an integer";
  case toml::node_type::floating_point: return "a float";
  case toml::node_type::boolean: return "a boolean";
  case toml::node_type::date: return "a date";
  case toml::node_type::time: return "a time";
  case toml::node_type::date_time: return "a date-time";
  case toml::node_type::none: break;
  }
  return "nothing";
}

class Reader {
public:
  Reader(const toml::table& table, std::string_view source) : table_(table), source_(source) {}

  const toml::node* find(std::string_view key) const { return table_.get(key); }

  std::string string(std::string_view key, bool required) const {
    const toml::node* node = find(key);
    if (!node) {
      if (required) throw ConfigError(fmt::format("{}: missing required key '{}'", source_, key));
      return {};
    }
    if (!node->is_string())
      fail(source_, node->source(), key, fmt::format("must be a string, got {}", type_name(node->type())));
    return std::string(node->as_string()->get());
  }

  // An integer in [min, max]; `fallback` when absent.
  uint64_t integer(std::string_view key, int64_t min, int64_t max, uint64_t fallback) const {
    const toml::node* node = find(key);
    if (!node) return fallback;
    if (!node->is_integer())
      fail(source_, node->source(), key, fmt::format("must be an integer, got {}", type_name(node->type())));
    int64_t value = node->as_integer()->get();
    if (value < min || value > max)
      fail(source_, node->source(), key, fmt::format("must be between {} and {}, got {}", min, max, value));
    return static_cast<uint64_t>(value);
  }

  bool boolean(std::string_view key, bool fallback) const {
    const toml::node* node = find(key);
    if (!node) return fallback;
    if (!node->is_boolean())
      fail(source_, node->source(), key, fmt::format("must be true or false, got {}", type_name(node->type())));
    return node->as_boolean()->get();
  }

  [[noreturn]] void fail_at(std::string_view key, std::string_view what) const {
    const toml::node* node = find(key);
    fail(source_, node ? node->source() : toml::source_region{}, key, what);
  }

private:
  const toml::table& table_;
  std::string_view source_;
};

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxVmNameLength || name.front() == '.' || name.front() == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.';
    if (!ok) return false;
  }
  return true;
}

uint64_t parse_memory(const Reader& reader, std::string_view source) {
  const toml::node* node = reader.find("memory");
  if (!node) throw ConfigError(fmt::format("{}: missing required key 'memory'", source));
  uint64_t bytes = 0;
  if (node->is_string()) {
    std::string_view text = node->as_string()->get();
    auto parsed = machine::parse_size(text);
    if (!parsed)
      fail(source, node->source(), "memory",
           fmt::format("'{}' is not a size (write it as QEMU does: 256M, 1G, 65536K or bytes)", text));
    bytes = *parsed;
  } else if (node->is_integer()) {
    int64_t value = node->as_integer()->get();
    if (value < 0) fail(source, node->source(), "memory", fmt::format("must not be negative, got {}", value));
    bytes = static_cast<uint64_t>(value);
  } else {
    fail(source, node->source(), "memory",
         fmt::format("must be a size string such as \"256M\" or a byte count, got {}", type_name(node->type())));
  }
  if (bytes < kMinVmMemory || bytes > kMaxVmMemory)
    fail(source, node->source(), "memory",
         fmt::format("must be between 1M and 1T, got {} bytes", bytes));
  if (bytes % 4096 != 0)
    fail(source, node->source(), "memory", fmt::format("must be whole 4 KiB pages, got {} bytes", bytes));
  return bytes;
}

// [[net]] tables: network = "blue" (required), mac = "52:54:00:12:34:56" (optional).
std::vector<NicConfig> parse_nics(const toml::table& table, const std::string& vm_name, std::string_view source) {
  std::vector<NicConfig> nics;
  const toml::node* node = table.get("net");
  if (!node) return nics;
  const toml::array* array = node->as_array();
  if (!array || !array->is_array_of_tables())
    fail(source, node->source(), "net", "must be [[net]] tables, each with network = \"NAME\" and optionally mac");
  if (array->size() > kMaxVmNics)
    fail(source, node->source(), "net", fmt::format("a VM has at most {} interfaces, got {}", kMaxVmNics, array->size()));
  for (const toml::node& element : *array) {
    const toml::table& t = *element.as_table();
    for (auto&& [key, value] : t)
      if (key.str() != "network" && key.str() != "mac")
        fail(source, value.source(), fmt::format("net.{}", key.str()), "unknown key (known: network, mac)");
    Reader r(t, source);
    NicConfig nic;
    nic.network = r.string("network", true);
    if (!valid_network_name(nic.network))
      r.fail_at("network", fmt::format("'{}' is not a network name (1 to 32 letters, digits, '-', '_' or '.')", nic.network));
    if (t.get("mac")) {
      const std::string mac = r.string("mac", false);
      if (!machine::parse_mac(mac, nic.mac))
        r.fail_at("mac", fmt::format("'{}' is not a unicast MAC address written as 52:54:00:12:34:56", mac));
    } else {
      nic.mac = default_mac(vm_name, nics.size());
    }
    for (const NicConfig& other : nics)
      if (other.network == nic.network)
        r.fail_at("network", fmt::format("the VM already has an interface on network '{}'", nic.network));
    nics.push_back(nic);
  }
  return nics;
}

} // namespace

machine::MacAddress default_mac(std::string_view vm_name, size_t index) {
  uint32_t h = 2166136261u;
  for (char c : vm_name) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  h ^= static_cast<uint32_t>(index) * 0x9e3779b9u;
  h *= 16777619u;
  return {0x52, 0x54, 0x00, static_cast<uint8_t>(h >> 16), static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h)};
}

VmConfig parse_vm_config(std::string_view toml_text, std::string_view source) {
  toml::table table;
  try {
    table = toml::parse(toml_text, source);
  } catch (const toml::parse_error& error) {
    const auto& where = error.source();
    if (where.begin.line != 0)
      throw ConfigError(fmt::format("{}:{}: {}", source, where.begin.line, error.description()));
    throw ConfigError(fmt::format("{}: {}", source, error.description()));
  }

  for (auto&& [key, node] : table) {
    bool known = false;
    for (std::string_view k : kKnownKeys) known = known || key.str() == k;
    if (!known)
      fail(source, key.source().begin.line ? key.source() : node.source(), key.str(),
           "unknown key (known: name, vcpus, memory, mode, kernel, initrd, append, disk, readonly, bios, weight, "
           "cap, reservation, net, gdb, gdb_wait, balloon, virtio_console, console_input)");
  }

  Reader reader(table, source);
  VmConfig config;
  config.source = std::string(source);
  config.name = reader.string("name", true);
  if (!valid_name(config.name))
    reader.fail_at("name", fmt::format("'{}' is not a valid VM name (1 to {} letters, digits, '-', '_' or '.', "
                                       "not starting with '-' or '.')",
                                       config.name, kMaxVmNameLength));
  config.vcpus = static_cast<uint32_t>(reader.integer("vcpus", 1, kMaxVcpus, 1));
  config.memory_bytes = parse_memory(reader, source);

  std::string mode = reader.string("mode", false);
  if (mode.empty() && !reader.find("mode")) config.mode = VirtMode::emulate;
  else if (mode == "emulate") config.mode = VirtMode::emulate;
  else if (mode == "trap") config.mode = VirtMode::trap;
  else if (mode == "hw") config.mode = VirtMode::hw;
  else reader.fail_at("mode", fmt::format("must be one of emulate, trap, hw; got '{}'", mode));

  config.kernel = reader.string("kernel", true);
  if (config.kernel.empty()) reader.fail_at("kernel", "must name a kernel image, got an empty string");
  config.initrd = reader.string("initrd", false);
  config.append = reader.string("append", false);
  config.disk = reader.string("disk", false);
  config.disk_read_only = reader.boolean("readonly", false);
  if (config.disk_read_only && config.disk.empty()) reader.fail_at("readonly", "needs a disk to apply to");
  config.balloon = reader.boolean("balloon", false);
  config.virtio_console = reader.boolean("virtio_console", false);
  if (reader.find("console_input")) {
    const std::string input = reader.string("console_input", false);
    if (input != "uart" && input != "hvc")
      reader.fail_at("console_input", fmt::format("must be \"uart\" or \"hvc\", got '{}'", input));
    if (input == "hvc" && !config.virtio_console)
      reader.fail_at("console_input", "\"hvc\" needs the virtio console: add virtio_console = true");
    config.console_input_hvc = input == "hvc";
  }
  if (reader.find("bios")) {
    config.bios = reader.string("bios", false);
    if (config.bios.empty())
      reader.fail_at("bios", "must be vmm, none, opensbi or a firmware file, got an empty string");
    if (config.bios != "vmm" && config.mode != VirtMode::emulate)
      reader.fail_at("bios", fmt::format("'{}' runs the VM's own M-mode firmware, which only mode = \"emulate\" "
                                         "can do; {} mode needs the VMM's SBI (bios = \"vmm\", the default)",
                                         config.bios, to_string(config.mode)));
  }

  config.gdb = reader.string("gdb", false);
  if (reader.find("gdb") && config.gdb.empty())
    reader.fail_at("gdb", "must be an address like \"tcp:127.0.0.1:1234\", got an empty string");
  if (!config.gdb.empty() && config.mode == VirtMode::trap)
    reader.fail_at("gdb", "the gdb stub needs mode = \"emulate\" or \"hw\" (in trap mode the hart runs the guest "
                          "kernel in U-mode and does not hold its privileged state)");
  config.gdb_wait = reader.boolean("gdb_wait", false);
  if (config.gdb_wait && config.gdb.empty()) reader.fail_at("gdb_wait", "needs gdb = \"tcp:HOST:PORT\" to wait for");
  config.nics = parse_nics(table, config.name, source);
  config.weight = static_cast<uint32_t>(reader.integer("weight", 1, kMaxWeight, config.weight));
  // A VM can use at most one hart per vCPU, so a cap or reservation above 100 % per vCPU means nothing.
  const int64_t most = int64_t{100} * config.vcpus;
  config.cap_percent = static_cast<uint32_t>(reader.integer("cap", 0, most, 0));
  config.reservation_percent = static_cast<uint32_t>(reader.integer("reservation", 0, most, 0));
  if (config.cap_percent != 0 && config.reservation_percent > config.cap_percent)
    reader.fail_at("reservation", fmt::format("reservation {} % exceeds the VM's own cap {} %",
                                              config.reservation_percent, config.cap_percent));
  return config;
}

VmConfig load_vm_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the VM configuration file", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(fmt::format("{}: cannot read the VM configuration file", file.string()));
  VmConfig config = parse_vm_config(text.str(), file.string());
  // Paths in the file are relative to the file, so a VM directory can be moved as a whole.
  auto resolve = [&](std::string& path) {
    if (!path.empty() && std::filesystem::path(path).is_relative())
      path = (file.parent_path() / path).lexically_normal().string();
  };
  resolve(config.kernel);
  resolve(config.initrd);
  resolve(config.disk);
  if (config.bios != "vmm" && config.bios != "none" && config.bios != "opensbi") resolve(config.bios);
  return config;
}

void check_vm_set(const std::vector<VmConfig>& vms, uint32_t host_harts) {
  std::map<std::string, const VmConfig*> by_name;
  uint64_t reserved = 0;
  for (const VmConfig& vm : vms) {
    auto [it, inserted] = by_name.emplace(vm.name, &vm);
    if (!inserted)
      throw ConfigError(fmt::format("{}: key 'name': VM name '{}' is already used by {}", vm.source, vm.name,
                                    it->second->source));
    reserved += vm.reservation_percent;
  }
  std::map<std::pair<std::string, machine::MacAddress>, const VmConfig*> macs;
  for (const VmConfig& vm : vms)
    for (const NicConfig& nic : vm.nics) {
      auto [it, inserted] = macs.emplace(std::make_pair(nic.network, nic.mac), &vm);
      if (!inserted)
        throw ConfigError(fmt::format("{}: [[net]] MAC {} on network '{}' is already used by VM '{}' ({})", vm.source,
                                      machine::format_mac(nic.mac), nic.network, it->second->name, it->second->source));
    }
  const uint64_t available = uint64_t{100} * host_harts;
  if (reserved > available) {
    std::string list;
    for (const VmConfig& vm : vms)
      if (vm.reservation_percent)
        list += fmt::format("{}{} {} % ({})", list.empty() ? "" : ", ", vm.name, vm.reservation_percent, vm.source);
    throw ConfigError(fmt::format("reservations add up to {} % but {} host hart{} give at most {} %: {}", reserved,
                                  host_harts, host_harts == 1 ? "" : "s", available, list));
  }
}

std::vector<VmConfig> load_vm_configs(const std::vector<std::filesystem::path>& files, uint32_t host_harts) {
  std::vector<VmConfig> vms;
  vms.reserve(files.size());
  for (const auto& file : files) vms.push_back(load_vm_config(file));
  check_vm_set(vms, host_harts);
  return vms;
}

} // namespace nimbus::hypervisor
