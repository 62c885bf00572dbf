#include "machine/board.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "machine/boot_loader.hpp"
#include "machine/firmware_errata.hpp"
#include "machine/splitmix64.hpp"
#include "machine/devices/virtio_block.hpp"
#include "machine/devices/virtio_entropy.hpp"

namespace nimbus::machine {

Board::Board(const BoardConfig& config, Bus& bus, Clock& clock, std::vector<InterruptPins*> hart_pins)
    : config_(config), bus_(bus), clock_(clock), virtio_(VirtioMmio::kSlots) {
  if (bus.ram_base() != kRamBase)
    throw std::invalid_argument(fmt::format("board: RAM must start at {:#x}, not {:#x}", kRamBase, bus.ram_base()));
  if (config.ram_size != bus.ram_size())
    throw std::invalid_argument(
        fmt::format("board: configured RAM {} bytes differs from the bus's {}", config.ram_size, bus.ram_size()));
  if (config.harts == 0 || config.harts > kMaxHarts)
    throw std::invalid_argument(fmt::format("board: {} harts is outside 1..{}", config.harts, kMaxHarts));
  if (hart_pins.size() != config.harts)
    throw std::invalid_argument(
        fmt::format("board: {} interrupt pin sets for {} harts", hart_pins.size(), config.harts));
  for (InterruptPins* p : hart_pins)
    if (!p) throw std::invalid_argument("board: null interrupt pins");

  plic_ = std::make_unique<Plic>(hart_pins);
  clint_ = std::make_unique<Clint>(clock, hart_pins);
  uart_ = std::make_unique<Uart16550>(irq_line(Uart16550::kIrq));
  rtc_ = std::make_unique<GoldfishRtc>(clock, irq_line(GoldfishRtc::kIrq));
  finisher_ = std::make_unique<TestFinisher>();

  bus.map(BootRom::kBase, BootRom::kSize, &rom_);
  bus.map(TestFinisher::kBase, TestFinisher::kSize, finisher_.get());
  bus.map(GoldfishRtc::kBase, GoldfishRtc::kSize, rtc_.get());
  bus.map(Clint::kBase, Clint::kSize, clint_.get());
  bus.map(Plic::kBase, Plic::kSize, plic_.get());
  bus.map(Uart16550::kBase, Uart16550::kSize, uart_.get());

  unsigned slot = kBlockSlot;
  if (config.drive_path) {
    auto block = std::make_unique<VirtioBlock>(*config.drive_path, config.drive_read_only, !config.drive_lock_deferred);
    block_ = block.get();
    add_virtio(slot++, std::move(block));
  }
  if (config.entropy) add_virtio(slot++, std::make_unique<VirtioEntropy>(clock.deterministic()));
  const size_t wanted = config.nics.size() + (config.balloon ? 1 : 0) + (config.virtio_console ? 1 : 0);
  if (slot + wanted > VirtioMmio::kSlots)
    throw std::invalid_argument(fmt::format("board: {} network interfaces{}{} do not fit the {} free virtio slots",
                                            config.nics.size(), config.balloon ? ", a balloon" : "",
                                            config.virtio_console ? ", a virtio console" : "",
                                            VirtioMmio::kSlots - slot));
  for (const NicSpec& nic : config.nics) {
    auto device = std::make_unique<VirtioNet>(nic.mac, nic.link);
    nics_.push_back(device.get());
    add_virtio(slot, std::move(device));
    polled_transports_.push_back(virtio_[slot].get());
    ++slot;
  }
  if (config.balloon) {
    auto device = std::make_unique<VirtioBalloon>(bus);
    balloon_ = device.get();
    add_virtio(slot, std::move(device));
    polled_transports_.push_back(virtio_[slot].get());
    ++slot;
  }
  if (config.virtio_console) {
    auto device = std::make_unique<VirtioConsole>(*config.virtio_console);
    virtio_console_ = device.get();
    add_virtio(slot, std::move(device));
    polled_transports_.push_back(virtio_[slot].get()); // console input fills its receive queue
    ++slot;
  }

  dtb_ = build_device_tree(tree_spec());
}

Board::~Board() = default;

IrqLine Board::irq_line(unsigned source) {
  Plic* plic = plic_.get();
  return [plic, source](bool level) { plic->set_irq(source, level); };
}

void Board::add_virtio(unsigned slot, std::unique_ptr<VirtioDevice> device) {
  virtio_[slot] = std::make_unique<VirtioMmio>(bus_, std::move(device), irq_line(VirtioMmio::kFirstIrq + slot),
                                               config_.virtio_legacy ? VirtioMmio::Layout::legacy
                                                                     : VirtioMmio::Layout::modern);
  bus_.map(VirtioMmio::kFirstSlotBase + slot * VirtioMmio::kSlotSize, VirtioMmio::kSlotSize, virtio_[slot].get());
}

void Board::poll_devices() {
  for (VirtioMmio* transport : polled_transports_) transport->poll();
}

VirtioMmio* Board::virtio(unsigned slot) { return slot < virtio_.size() ? virtio_[slot].get() : nullptr; }

namespace {

// The device tree's /chosen/rng-seed for one boot: 32 bytes from the host's getrandom(), or the
// splitmix64 sequence when the machine runs deterministically, so that runs repeat.
std::vector<uint8_t> boot_rng_seed(bool deterministic) {
  std::vector<uint8_t> seed(32);
  if (deterministic) {
    uint64_t state = 0x6e696d6275732d73; // "nimbus-s"
    splitmix64_fill(state, seed.data(), seed.size());
    return seed;
  }
  for (size_t got = 0; got < seed.size();) {
    const ssize_t r = getrandom(seed.data() + got, seed.size() - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw std::runtime_error(std::string("board: getrandom for the device tree's rng-seed: ") + std::strerror(errno));
    got += static_cast<size_t>(r);
  }
  return seed;
}

} // namespace

DeviceTreeSpec Board::tree_spec() const {
  DeviceTreeSpec spec;
  spec.rng_seed = boot_rng_seed(clock_.deterministic());
  spec.ram_base = bus_.ram_base();
  spec.ram_size = bus_.ram_size();
  spec.harts = config_.harts;
  spec.isa = config_.isa;
  spec.mmu_type = config_.mmu_type;
  spec.bootargs = config_.bootargs;
  spec.initrd = initrd_;
  for (unsigned slot = 0; slot < virtio_.size(); ++slot)
    if (virtio_[slot]) spec.virtio_slots.push_back(slot);
  return spec;
}

void Board::tick(uint64_t now) {
  clint_->tick(now);
  rtc_->tick();
}

void Board::reset() {
  clint_->reset();
  plic_->reset();
  uart_->reset();
  rtc_->reset();
  for (auto& transport : virtio_)
    if (transport) transport->reset();
  finisher_->clear();
}

uint64_t Board::next_deadline() const { return clint_->next_deadline(); }

BootInfo Board::boot(const BootSpec& spec) {
  BootInfo info;
  uint64_t occupied_end = bus_.ram_base(); // highest byte any image claims, to keep the DTB clear
  uint64_t start_addr = 0;
  uint64_t next_addr = bus_.ram_base();

  if (spec.bios != "none") {
    const std::string path = spec.bios == "opensbi" ? kDefaultOpenSbi : spec.bios;
    const LoadedImage fw = load_image(bus_, path, bus_.ram_base());
    info.firmware_entry = fw.entry;
    info.firmware_fixes = fix_firmware_errata(bus_, fw.start, fw.end);
    start_addr = fw.entry;
    occupied_end = std::max(occupied_end, fw.end);
    next_addr = kernel_address_after_firmware(fw.end);
  }

  if (spec.kernel) {
    const LoadedImage kernel = load_image(bus_, *spec.kernel, next_addr);
    info.kernel_entry = kernel.entry;
    next_addr = kernel.entry;
    occupied_end = std::max(occupied_end, kernel.end);
    if (spec.bios == "none") start_addr = kernel.entry;
    if (spec.initrd) {
      const uint64_t at = initrd_address(kernel.start, bus_.ram_size());
      const uint64_t size = copy_boot_file_to_ram(bus_, *spec.initrd, at, [&](uint64_t bytes) {
        if (bytes == 0) throw BootError(*spec.initrd + ": file is empty");
        if (at < kernel.end)
          throw BootError(fmt::format("{}: initrd at {:#x} would overlap the kernel ending at {:#x}", *spec.initrd,
                                      at, kernel.end));
        if (!bus_.is_ram(at, bytes))
          throw BootError(fmt::format("{}: {} bytes at {:#x} do not fit in RAM", *spec.initrd, bytes, at));
      });
      info.initrd = DeviceTreeSpec::Range{at, at + size};
      occupied_end = std::max(occupied_end, at + size);
    }
  } else if (spec.initrd) {
    throw BootError(*spec.initrd + ": an initrd needs a kernel");
  } else if (spec.bios == "none") {
    throw BootError("no firmware and no kernel: nothing to boot");
  }

  for (const ExtraLoad& extra : spec.extra) {
    const uint64_t size = copy_boot_file_to_ram(bus_, extra.path, extra.address, [&](uint64_t bytes) {
      if (!bus_.is_ram(extra.address, std::max<uint64_t>(bytes, 1)))
        throw BootError(fmt::format("{}: {} bytes at {:#x} do not fit in RAM", extra.path, bytes, extra.address));
    });
    occupied_end = std::max<uint64_t>(occupied_end, extra.address + size);
  }

  initrd_ = info.initrd;
  dtb_ = build_device_tree(tree_spec());
  info.dtb_address = dtb_address(bus_.ram_base(), bus_.ram_size(), dtb_.size());
  if (info.dtb_address < occupied_end || !bus_.is_ram(info.dtb_address, dtb_.size()))
    throw BootError(fmt::format("device tree: no room at the top of RAM ({:#x} is below the loaded images' end {:#x})",
                                info.dtb_address, occupied_end));
  bus_.copy_to_ram(info.dtb_address, dtb_.data(), dtb_.size());

  FwDynamicInfo dynamic;
  dynamic.next_addr = next_addr;
  info.next_address = next_addr;
  rom_.set_contents(BootRom::build(start_addr, info.dtb_address, dynamic));
  info.reset_pc = BootRom::kBase;
  return info;
}

} // namespace nimbus::machine

namespace nimbus::machine {

namespace {
constexpr uint32_t kUartTag = snapshot::make_tag("UART");
constexpr uint32_t kPlicTag = snapshot::make_tag("PLIC");
constexpr uint32_t kClintTag = snapshot::make_tag("CLNT");
constexpr uint32_t kRtcTag = snapshot::make_tag("RTC_");
constexpr uint32_t kVirtioTag = snapshot::make_tag("VIRT");

template <typename Device>
snapshot::Section device_section(uint32_t tag, uint32_t instance, const Device& device) {
  snapshot::Writer w;
  device.save_state(w);
  return snapshot::Section{tag, instance, w.take()};
}

const snapshot::Section& find(const std::vector<snapshot::Section>& sections, uint32_t tag, uint32_t instance) {
  for (const auto& s : sections)
    if (s.tag == tag && s.instance == instance) return s;
  throw snapshot::FormatError(fmt::format("snapshot has no section {} {}", snapshot::tag_name(tag), instance));
}
} // namespace

void Board::save_state(std::vector<snapshot::Section>& out) const {
  out.push_back(device_section(kUartTag, 0, *uart_));
  out.push_back(device_section(kPlicTag, 0, *plic_));
  out.push_back(device_section(kClintTag, 0, *clint_));
  out.push_back(device_section(kRtcTag, 0, *rtc_));
  for (unsigned slot = 0; slot < virtio_.size(); ++slot)
    if (virtio_[slot]) out.push_back(device_section(kVirtioTag, slot, *virtio_[slot]));
}

void Board::restore_state(const std::vector<snapshot::Section>& sections) {
  for (const auto& s : sections)
    if (s.tag == kVirtioTag && (s.instance >= virtio_.size() || !virtio_[s.instance]))
      throw snapshot::FormatError(fmt::format("snapshot has virtio slot {}, which this VM's board leaves empty "
                                              "(a disk in the snapshot but none here?)", s.instance));
  auto restore = [&](uint32_t tag, uint32_t instance, auto& device) {
    snapshot::Reader in(find(sections, tag, instance));
    device.restore_state(in);
  };
  restore(kUartTag, 0, *uart_);
  restore(kRtcTag, 0, *rtc_);
  for (unsigned slot = 0; slot < virtio_.size(); ++slot)
    if (virtio_[slot]) restore(kVirtioTag, slot, *virtio_[slot]);
  restore(kClintTag, 0, *clint_);
  restore(kPlicTag, 0, *plic_); // last: it drives the harts' external interrupt pins
}

} // namespace nimbus::machine
