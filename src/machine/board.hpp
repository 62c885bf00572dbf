#pragma once
// The QEMU-virt-compatible board: creates the devices, maps them on the bus, wires their
// interrupts through the PLIC to the harts' pins, generates the device tree and loads the boot
// images. The board never sees a hart, only its InterruptPins.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "machine/boot_rom.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/console_backend.hpp"
#include "machine/device_tree.hpp"
#include "machine/devices/clint.hpp"
#include "machine/devices/goldfish_rtc.hpp"
#include "machine/devices/plic.hpp"
#include "machine/devices/shutdown_request.hpp"
#include "machine/devices/test_finisher.hpp"
#include "machine/devices/uart_16550.hpp"
#include "machine/devices/virtio_balloon.hpp"
#include "machine/devices/virtio_block.hpp"
#include "machine/devices/virtio_console.hpp"
#include "machine/devices/virtio_mmio.hpp"
#include "machine/devices/virtio_net.hpp"
#include "machine/interrupt_pins.hpp"
#include "machine/snapshot_format.hpp"

namespace nimbus::machine {

// One network interface: a virtio-net device with this MAC, cabled to `link` (may be null).
struct NicSpec {
  MacAddress mac{};
  std::shared_ptr<NetLink> link;
};

struct BoardConfig {
  uint64_t ram_size = 256ull << 20; // must equal the bus's RAM size
  unsigned harts = 1;
  std::string bootargs;
  std::optional<std::string> drive_path; // raw disk image for virtio-blk
  bool drive_read_only = false;
  bool drive_lock_deferred = false;      // open the drive unlocked (a migration's destination)
  bool entropy = true;
  std::vector<NicSpec> nics;             // virtio-net devices, in the slots after disk and entropy
  bool balloon = false;                  // virtio-balloon with free page reporting, after the NICs
  // A virtio-console port whose output goes here (hvc in the guest), in the slot after the
  // balloon; null: none. Must outlive the board.
  ConsoleBackend* virtio_console = nullptr;
  // virtio-mmio transports with the legacy layout (version 1), as QEMU 7.2 presents them by
  // default; false: the modern layout (version 2, QEMU's -global virtio-mmio.force-legacy=false).
  bool virtio_legacy = false;
  std::string isa = DeviceTreeSpec{}.isa;
  std::string mmu_type = DeviceTreeSpec{}.mmu_type;
};

// A file copied into RAM at a fixed address, like QEMU's `-device loader,file=F,addr=A`.
struct ExtraLoad {
  std::string path;
  uint64_t address;
};

struct BootSpec {
  std::string bios = "opensbi"; // "opensbi" (Debian's fw_dynamic), "none", or a firmware path
  std::optional<std::string> kernel;
  std::optional<std::string> initrd;
  std::vector<ExtraLoad> extra;
};

// Where everything went; reset_pc is where every hart starts.
struct BootInfo {
  uint64_t reset_pc = BootRom::kBase;
  std::optional<uint64_t> firmware_entry;
  std::optional<uint64_t> kernel_entry;
  std::optional<DeviceTreeSpec::Range> initrd;
  uint64_t dtb_address = 0;
  uint64_t next_address = 0; // fw_dynamic_info.next_addr handed to the firmware
  std::vector<std::string> firmware_fixes; // known firmware bugs fixed at load (firmware_errata.hpp)
};

class Board {
public:
  static constexpr uint64_t kRamBase = 0x8000'0000;
  static constexpr const char* kDefaultOpenSbi = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin";
  static constexpr unsigned kBlockSlot = 0;
  static constexpr unsigned kMaxHarts = 512;

  // Throws std::invalid_argument for an impossible configuration and std::runtime_error if the
  // drive image cannot be opened.
  Board(const BoardConfig& config, Bus& bus, Clock& clock, std::vector<InterruptPins*> hart_pins);
  ~Board();
  Board(const Board&) = delete;
  Board& operator=(const Board&) = delete;

  Uart16550& uart() { return *uart_; }
  Clint& clint() { return *clint_; }
  Plic& plic() { return *plic_; }
  GoldfishRtc& rtc() { return *rtc_; }
  TestFinisher& test_finisher() { return *finisher_; }
  BootRom& boot_rom() { return rom_; }
  // The transport in virtio slot n, or nullptr if the slot is empty.
  VirtioMmio* virtio(unsigned slot);
  // The disk, or nullptr without one.
  VirtioBlock* block() { return block_; }
  // The network interfaces, in configuration order.
  const std::vector<VirtioNet*>& nics() const { return nics_; }
  // The balloon and the virtio console, or nullptr without them.
  VirtioBalloon* balloon() { return balloon_; }
  VirtioConsole* virtio_console() { return virtio_console_; }
  // Device-started work: moves frames that arrived for the guest into its receive buffers,
  // tells the balloon's driver of a new target, hands it a stats request. The run loop calls it
  // between slices, on the machine's thread.
  void poll_devices();

  // Advances time-driven device state (timer interrupts, RTC alarm) to clock reading `now`.
  void tick(uint64_t now);
  // Earliest clock reading at which a device interrupt is due (Clint::kNoDeadline if none).
  uint64_t next_deadline() const;
  ShutdownRequest shutdown_request() const { return finisher_->request(); }
  void clear_shutdown_request() { finisher_->clear(); }

  // Puts every device back in its power-on state (for a guest-requested reboot); the run loop
  // then reloads the images with boot() and restarts the harts at the reset vector.
  void reset();

  // Snapshots: one section per device (UART, PLIC, CLNT, RTC_, and VIRT per used slot).
  // restore_state needs a board built with the same configuration (harts, drive, layout) and
  // guest RAM already restored (virtqueues are checked against it); throws snapshot::FormatError.
  void save_state(std::vector<snapshot::Section>& out) const;
  void restore_state(const std::vector<snapshot::Section>& sections);

  // The current device tree blob (regenerated by boot() with bootargs and initrd).
  const std::vector<uint8_t>& dtb() const { return dtb_; }

  // Loads firmware, kernel, initrd, extra files and the DTB, and programs the reset ROM.
  // Throws BootError naming the file and problem.
  BootInfo boot(const BootSpec& spec);

private:
  DeviceTreeSpec tree_spec() const;
  IrqLine irq_line(unsigned source);
  void add_virtio(unsigned slot, std::unique_ptr<VirtioDevice> device);

  BoardConfig config_;
  Bus& bus_;
  Clock& clock_;
  std::unique_ptr<Plic> plic_;
  VirtioBlock* block_ = nullptr;   // owned by its transport
  std::vector<VirtioNet*> nics_;   // owned by their transports
  VirtioBalloon* balloon_ = nullptr;         // owned by its transport
  VirtioConsole* virtio_console_ = nullptr;  // owned by its transport
  std::vector<VirtioMmio*> polled_transports_; // transports whose devices start work themselves
  std::unique_ptr<Clint> clint_;
  std::unique_ptr<Uart16550> uart_;
  std::unique_ptr<GoldfishRtc> rtc_;
  std::unique_ptr<TestFinisher> finisher_;
  std::vector<std::unique_ptr<VirtioMmio>> virtio_; // indexed by slot; empty slots are null
  BootRom rom_;
  std::optional<DeviceTreeSpec::Range> initrd_;
  std::vector<uint8_t> dtb_;
};

} // namespace nimbus::machine
