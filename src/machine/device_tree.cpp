#include "machine/device_tree.hpp"

#include <libfdt.h>

#include <initializer_list>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "machine/devices/clint.hpp"
#include "machine/devices/goldfish_rtc.hpp"
#include "machine/devices/plic.hpp"
#include "machine/devices/test_finisher.hpp"
#include "machine/devices/uart_16550.hpp"
#include "machine/devices/virtio_mmio.hpp"

namespace nimbus::machine {
namespace {

// Thin wrapper over libfdt's sequential-write API that turns error codes into exceptions.
class FdtWriter {
public:
  explicit FdtWriter(size_t capacity) : buffer_(capacity) {
    check(fdt_create(buffer_.data(), size()), "create");
    check(fdt_finish_reservemap(buffer_.data()), "memory reservation map"); // no reservations
  }

  void begin(const std::string& name) { check(fdt_begin_node(buffer_.data(), name.c_str()), name.empty() ? "/" : name.c_str()); }
  void end() { check(fdt_end_node(buffer_.data()), "end node"); }
  void u32(const char* prop, uint32_t v) { check(fdt_property_u32(buffer_.data(), prop, v), prop); }
  void str(const char* prop, std::string_view v) {
    const std::string s(v);
    check(fdt_property(buffer_.data(), prop, s.c_str(), static_cast<int>(s.size() + 1)), prop);
  }
  // A list of strings, as in compatible = "a", "b".
  void strings(const char* prop, std::initializer_list<std::string_view> list) {
    std::string joined;
    for (std::string_view s : list) {
      joined.append(s);
      joined.push_back('\0');
    }
    check(fdt_property(buffer_.data(), prop, joined.data(), static_cast<int>(joined.size())), prop);
  }
  void empty(const char* prop) { check(fdt_property(buffer_.data(), prop, nullptr, 0), prop); }
  void cells(const char* prop, const std::vector<uint32_t>& values) {
    std::vector<fdt32_t> be;
    be.reserve(values.size());
    for (uint32_t v : values) be.push_back(cpu_to_fdt32(v));
    check(fdt_property(buffer_.data(), prop, be.data(), static_cast<int>(be.size() * sizeof(fdt32_t))), prop);
  }
  // reg with #address-cells = #size-cells = 2.
  void reg(uint64_t base, uint64_t size) {
    cells("reg", {static_cast<uint32_t>(base >> 32), static_cast<uint32_t>(base), static_cast<uint32_t>(size >> 32),
                  static_cast<uint32_t>(size)});
  }
  void u64(const char* prop, uint64_t v) { check(fdt_property_u64(buffer_.data(), prop, v), prop); }
  void bytes(const char* prop, const std::vector<uint8_t>& v) {
    check(fdt_property(buffer_.data(), prop, v.data(), static_cast<int>(v.size())), prop);
  }

  std::vector<uint8_t> finish() {
    check(fdt_finish(buffer_.data()), "finish");
    check(fdt_pack(buffer_.data()), "pack");
    buffer_.resize(fdt_totalsize(buffer_.data()));
    return std::move(buffer_);
  }

private:
  int size() const { return static_cast<int>(buffer_.size()); }
  static void check(int err, const char* what) {
    if (err < 0) throw std::runtime_error(fmt::format("device tree: {}: {}", what, fdt_strerror(err)));
  }
  std::vector<uint8_t> buffer_;
};

} // namespace

std::vector<uint8_t> build_device_tree(const DeviceTreeSpec& spec) {
  if (spec.harts == 0) throw std::runtime_error("device tree: a machine needs at least one hart");
  // phandles: cpu h = 1 + 2h, its interrupt controller = 2 + 2h, then the PLIC and the syscon.
  const auto cpu_phandle = [](unsigned h) { return 1 + 2 * h; };
  const auto intc_phandle = [](unsigned h) { return 2 + 2 * h; };
  const uint32_t plic_phandle = 1 + 2 * spec.harts;
  const uint32_t test_phandle = plic_phandle + 1;

  FdtWriter w(64 * 1024 + 512 * spec.harts);
  w.begin("");
  w.u32("#address-cells", 2);
  w.u32("#size-cells", 2);
  w.str("compatible", "riscv-virtio");
  w.str("model", "riscv-virtio,qemu");

  w.begin("chosen");
  if (!spec.rng_seed.empty()) w.bytes("rng-seed", spec.rng_seed);
  if (!spec.bootargs.empty()) w.str("bootargs", spec.bootargs);
  w.str("stdout-path", fmt::format("/soc/serial@{:x}", Uart16550::kBase));
  if (spec.initrd) {
    w.u64("linux,initrd-start", spec.initrd->start);
    w.u64("linux,initrd-end", spec.initrd->end);
  }
  w.end();

  if (spec.test_finisher) {
    w.begin("poweroff");
    w.u32("value", TestFinisher::kPass);
    w.u32("offset", 0);
    w.u32("regmap", test_phandle);
    w.str("compatible", "syscon-poweroff");
    w.end();
    w.begin("reboot");
    w.u32("value", TestFinisher::kReset);
    w.u32("offset", 0);
    w.u32("regmap", test_phandle);
    w.str("compatible", "syscon-reboot");
    w.end();
  }

  w.begin(fmt::format("memory@{:x}", spec.ram_base));
  w.str("device_type", "memory");
  w.reg(spec.ram_base, spec.ram_size);
  w.end();

  w.begin("cpus");
  w.u32("#address-cells", 1);
  w.u32("#size-cells", 0);
  w.u32("timebase-frequency", static_cast<uint32_t>(Clock::kTimebaseHz));
  for (unsigned h = 0; h < spec.harts; ++h) {
    w.begin(fmt::format("cpu@{:x}", h));
    w.u32("phandle", cpu_phandle(h));
    w.str("device_type", "cpu");
    w.u32("reg", h);
    w.str("status", "okay");
    w.str("compatible", "riscv");
    w.str("riscv,isa", spec.isa);
    w.str("mmu-type", spec.mmu_type);
    w.begin("interrupt-controller");
    w.u32("#interrupt-cells", 1);
    w.empty("interrupt-controller");
    w.str("compatible", "riscv,cpu-intc");
    w.u32("phandle", intc_phandle(h));
    w.end();
    w.end();
  }
  w.begin("cpu-map");
  w.begin("cluster0");
  for (unsigned h = 0; h < spec.harts; ++h) {
    w.begin(fmt::format("core{}", h));
    w.u32("cpu", cpu_phandle(h));
    w.end();
  }
  w.end();
  w.end();
  w.end(); // cpus

  w.begin("soc");
  w.u32("#address-cells", 2);
  w.u32("#size-cells", 2);
  w.str("compatible", "simple-bus");
  w.empty("ranges");

  if (spec.rtc) {
    w.begin(fmt::format("rtc@{:x}", GoldfishRtc::kBase));
    w.u32("interrupts", GoldfishRtc::kIrq);
    w.u32("interrupt-parent", plic_phandle);
    w.reg(GoldfishRtc::kBase, GoldfishRtc::kSize);
    w.str("compatible", "google,goldfish-rtc");
    w.end();
  }

  w.begin(fmt::format("serial@{:x}", Uart16550::kBase));
  w.u32("interrupts", Uart16550::kIrq);
  w.u32("interrupt-parent", plic_phandle);
  w.u32("clock-frequency", Uart16550::kClockHz);
  w.reg(Uart16550::kBase, Uart16550::kSize);
  w.str("compatible", "ns16550a");
  w.end();

  if (spec.test_finisher) {
    w.begin(fmt::format("test@{:x}", TestFinisher::kBase));
    w.u32("phandle", test_phandle);
    w.reg(TestFinisher::kBase, TestFinisher::kSize);
    w.strings("compatible", {"sifive,test1", "sifive,test0", "syscon"});
    w.end();
  }

  // Highest slot first, as QEMU lists them.
  for (auto it = spec.virtio_slots.rbegin(); it != spec.virtio_slots.rend(); ++it) {
    const unsigned slot = *it;
    if (slot >= VirtioMmio::kSlots) throw std::runtime_error(fmt::format("device tree: no virtio slot {}", slot));
    const uint64_t base = VirtioMmio::kFirstSlotBase + slot * VirtioMmio::kSlotSize;
    w.begin(fmt::format("virtio_mmio@{:x}", base));
    w.u32("interrupts", VirtioMmio::kFirstIrq + slot);
    w.u32("interrupt-parent", plic_phandle);
    w.reg(base, VirtioMmio::kSlotSize);
    w.str("compatible", "virtio,mmio");
    w.end();
  }

  w.begin(fmt::format("plic@{:x}", Plic::kBase));
  w.u32("phandle", plic_phandle);
  w.u32("riscv,ndev", Plic::kSources - 1);
  w.reg(Plic::kBase, Plic::kSize);
  {
    std::vector<uint32_t> ext;
    for (unsigned h = 0; h < spec.harts; ++h) {
      ext.insert(ext.end(), {intc_phandle(h), Plic::kMeipBit, intc_phandle(h), Plic::kSeipBit});
    }
    w.cells("interrupts-extended", ext);
  }
  w.empty("interrupt-controller");
  w.strings("compatible", {"sifive,plic-1.0.0", "riscv,plic0"});
  w.u32("#address-cells", 0);
  w.u32("#interrupt-cells", 1);
  w.end();

  w.begin(fmt::format("clint@{:x}", Clint::kBase));
  {
    std::vector<uint32_t> ext;
    for (unsigned h = 0; h < spec.harts; ++h) {
      ext.insert(ext.end(), {intc_phandle(h), Clint::kMsipBit, intc_phandle(h), Clint::kMtipBit});
    }
    w.cells("interrupts-extended", ext);
  }
  w.reg(Clint::kBase, Clint::kSize);
  w.strings("compatible", {"sifive,clint0", "riscv,clint0"});
  w.end();

  w.end(); // soc
  w.end(); // root
  return w.finish();
}

} // namespace nimbus::machine
