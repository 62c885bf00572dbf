#include "hypervisor/vm_snapshot.hpp"

#include <fmt/format.h>

#include "hypervisor/net_switch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nimbus::hypervisor {

using machine::snapshot::FormatError;
using machine::snapshot::Reader;
using machine::snapshot::Section;
using machine::snapshot::Writer;

const Section* SnapshotImage::find(uint32_t tag, uint32_t instance) const {
  for (const auto& s : sections)
    if (s.tag == tag && s.instance == instance) return &s;
  return nullptr;
}

const Section& SnapshotImage::get(uint32_t tag, uint32_t instance) const {
  if (const Section* s = find(tag, instance)) return *s;
  throw FormatError(fmt::format("no section {} {}", machine::snapshot::tag_name(tag), instance));
}

Section encode_config(const VmConfig& c) {
  Writer w;
  w.string(c.name);
  w.u8(static_cast<uint8_t>(c.mode));
  w.u32(c.vcpus);
  w.u64(c.memory_bytes);
  w.string(c.bios);
  w.string(c.kernel);
  w.string(c.initrd);
  w.string(c.append);
  w.string(c.disk);
  w.boolean(c.disk_read_only);
  w.u32(c.weight);
  w.u32(c.cap_percent);
  w.u32(c.reservation_percent);
  // Format version 2: the network interfaces, then the optional devices, only when there are
  // any, so a VM without them has the version-1 section an older nimbus reads.
  if (!c.nics.empty() || c.balloon || c.virtio_console) {
    w.u32(static_cast<uint32_t>(c.nics.size()));
    for (const NicConfig& nic : c.nics) {
      w.string(nic.network);
      w.bytes(nic.mac.data(), nic.mac.size());
    }
  }
  if (c.balloon || c.virtio_console) {
    w.boolean(c.balloon);
    w.boolean(c.virtio_console);
  }
  return Section{snapshot_tags::kConfig, 0, w.take()};
}

uint32_t snapshot_format_version(const VmConfig& config) {
  return config.nics.empty() && !config.balloon && !config.virtio_console ? 1 : 2;
}

VmConfig decode_config(const Section& section) {
  Reader r(section);
  VmConfig c;
  c.source = "snapshot";
  c.name = r.string(kMaxVmNameLength);
  if (c.name.empty()) r.fail("empty VM name");
  const uint8_t mode = r.u8();
  if (mode > static_cast<uint8_t>(VirtMode::hw)) r.fail(fmt::format("unknown mode {}", mode));
  c.mode = static_cast<VirtMode>(mode);
  c.vcpus = r.u32();
  if (c.vcpus < 1 || c.vcpus > kMaxVcpus) r.fail(fmt::format("{} vCPUs (1 to {})", c.vcpus, kMaxVcpus));
  c.memory_bytes = r.u64();
  if (c.memory_bytes < kMinVmMemory || c.memory_bytes > kMaxVmMemory || c.memory_bytes % 4096 != 0)
    r.fail(fmt::format("memory size {} is not whole pages between {} and {}", c.memory_bytes, kMinVmMemory,
                       kMaxVmMemory));
  c.bios = r.string();
  c.kernel = r.string();
  c.initrd = r.string();
  c.append = r.string();
  c.disk = r.string();
  c.disk_read_only = r.boolean();
  c.weight = r.u32();
  c.cap_percent = r.u32();
  c.reservation_percent = r.u32();
  if (c.weight < 1 || c.weight > kMaxWeight || c.cap_percent > 100 || c.reservation_percent > 100)
    r.fail("weight, cap or reservation out of range");
  if (r.remaining() > 0) {   // version 2: network interfaces (perhaps none), then optional devices
    const uint32_t count = r.u32();
    if (count > kMaxVmNics) r.fail(fmt::format("{} network interfaces (0 to {})", count, kMaxVmNics));
    for (uint32_t i = 0; i < count; ++i) {
      NicConfig nic;
      nic.network = r.string(64);
      if (!valid_network_name(nic.network)) r.fail(fmt::format("interface {}: bad network name", i));
      r.bytes(nic.mac.data(), nic.mac.size());
      if ((nic.mac[0] & 1) != 0 || nic.mac == machine::MacAddress{})
        r.fail(fmt::format("interface {}: MAC {} is not a unicast address", i, machine::format_mac(nic.mac)));
      for (const NicConfig& other : c.nics)
        if (other.network == nic.network || other.mac == nic.mac)
          r.fail(fmt::format("interface {}: network or MAC used twice", i));
      c.nics.push_back(nic);
    }
  }
  if (r.remaining() > 0) {
    c.balloon = r.boolean();
    c.virtio_console = r.boolean();
  }
  r.expect_end();
  return c;
}

std::shared_ptr<const SnapshotImage> load_snapshot(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kSnapshotStateFile;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("snapshot {}: {}", path.string(), std::strerror(errno)));
  std::vector<uint8_t> bytes;
  try {
    struct stat st{};
    if (::fstat(fd, &st) != 0) throw std::runtime_error(std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw std::runtime_error("not a regular file");
    if (static_cast<uint64_t>(st.st_size) > kMaxSnapshotStateBytes)
      throw FormatError(fmt::format("{} bytes, more than a state file can hold ({})", st.st_size,
                                    kMaxSnapshotStateBytes));
    bytes.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < bytes.size()) {
      const ssize_t n = ::pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
      if (n < 0) throw std::runtime_error(std::strerror(errno));
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    bytes.resize(got);
  } catch (const FormatError& e) {
    ::close(fd);
    throw FormatError(fmt::format("snapshot {}: {}", path.string(), e.what()));
  } catch (const std::exception& e) {
    ::close(fd);
    throw std::runtime_error(fmt::format("snapshot {}: {}", path.string(), e.what()));
  }
  ::close(fd);
  auto image = std::make_shared<SnapshotImage>();
  image->dir = dir;
  try {
    image->sections = machine::snapshot::decode(bytes);
    image->config = decode_config(image->get(snapshot_tags::kConfig));
  } catch (const FormatError& e) {
    throw FormatError(fmt::format("snapshot {}: {}", path.string(), e.what()));
  }
  return image;
}

} // namespace nimbus::hypervisor
