// Fuzz target: virtio-console (machine/devices/virtio_console.*) behind a modern virtio-mmio
// transport with both queues live: any register access, hostile descriptor chains on the
// transmit and the receive queue, input arriving from the host at any time.
//
// Beyond "no crash" (ASan sees one byte past guest RAM, a heap buffer here): every byte the
// device counts as written reached the host side, in one piece per request no larger than
// kMaxWrite; the same input gives the same RAM, state and output twice; the state restores into
// a fresh transport and saves back identically.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

#include "fuzz_support.hpp"
#include "machine/console_backend.hpp"
#include "machine/devices/virtio_console.hpp"
#include "multi_queue_harness.hpp"

using namespace nimbus::machine;
using nimbus::fuzz::ByteReader;
using nimbus::fuzz::MultiQueueLayout;
using nimbus::fuzz::MultiQueueRun;

namespace {

struct BufferConsole : ConsoleBackend {
  void write(uint8_t byte) override { output.push_back(byte); }
  std::optional<uint8_t> read() override {
    if (input.empty()) return std::nullopt;
    const uint8_t b = input.front();
    input.pop_front();
    return b;
  }
  void wait_for_input(std::chrono::nanoseconds) override {}
  std::vector<uint8_t> output;
  std::deque<uint8_t> input;
};

struct Outcome {
  std::vector<uint8_t> ram, state, output;
};

Outcome run_once(const uint8_t* data, size_t size, bool check_restore) {
  BufferConsole backend;
  VirtioConsole* console = nullptr;
  MultiQueueRun run(
      [&](Bus&) {
        auto d = std::make_unique<VirtioConsole>(backend);
        console = d.get();
        return d;
      },
      [&](uint8_t event, ByteReader& in) { // input from the host: 1..32 bytes
        for (unsigned i = 0; i <= (event & 31u); ++i) backend.input.push_back(in.u8());
      });
  ByteReader in(data, size);
  run.run(in);
  FUZZ_CHECK(console->bytes_written() == backend.output.size());
  Outcome out{run.ram(), nimbus::fuzz::transport_state(run.transport()), backend.output};
  if (check_restore) {
    BufferConsole other;
    MultiQueueRun fresh([&](Bus&) { return std::make_unique<VirtioConsole>(other); }, [](uint8_t, ByteReader&) {});
    fresh.bus().copy_to_ram(MultiQueueLayout::kRamBase, out.ram.data(), out.ram.size());
    nimbus::machine::snapshot::Reader r(out.state, "virtio transport");
    fresh.transport().restore_state(r);
    r.expect_end();
    FUZZ_CHECK(nimbus::fuzz::transport_state(fresh.transport()) == out.state);
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  using L = MultiQueueLayout;
  // Linux's hvc driver: receive buffers posted, "hello\n" sent in one buffer and in a chain.
  nimbus::fuzz::MultiQueueSeed s;
  s.desc(0, 0, L::kBuffers + 0x100, 64, Virtqueue::kDescWrite, 0);
  s.available(0, 0);
  const std::vector<uint8_t> hello = {'h', 'e', 'l', 'l', 'o', '\n'};
  s.ram(static_cast<uint16_t>(L::kBuffers - L::kRamBase), hello);
  s.desc(1, 0, L::kBuffers, 6, 0, 0);
  s.available(1, 0);
  s.desc(1, 1, L::kBuffers, 2, Virtqueue::kDescNext, 2);
  s.desc(1, 2, L::kBuffers + 2, 4, 0, 0);
  s.available(1, 1);
  s.host(3); // four bytes of input
  s.w.u32(0x0a6b6f);
  s.poll();
  nimbus::fuzz::write_seed("console_driver", s.w.out);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Outcome first = run_once(data, size, true);
  const Outcome second = run_once(data, size, false);
  FUZZ_CHECK(first.ram == second.ram && first.state == second.state && first.output == second.output);
  return 0;
}
