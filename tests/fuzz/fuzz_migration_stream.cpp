// Fuzz target: the live-migration stream as the destination reads it
// (hypervisor/migration_stream.*), the bytes a hostile or broken source sends over TCP.
//
// The first byte picks how the rest is read:
//  - even: raw stream bytes for check_source_stream (every frame header, CRC, sequence number,
//    frame order and payload). Beyond "no crash": it either accepts or throws StreamError, never
//    another exception; and each frame parse_frame accepts re-encodes to exactly its bytes (the
//    framing has one encoding, so nothing the parser skips can hide in a frame).
//  - odd: frames (type, payload) that are wrapped with valid CRCs and sequence numbers first, so
//    the fuzzer reaches the payload decoders (HELLO's configuration, PAGES records, STATE's
//    NIMBSNAP container, END's totals, REFUSE/ABORT reasons). Each decoder either throws
//    StreamError or returns a value that encodes back to the same payload where the payload has
//    one encoding (not HELLO's configuration text, nor a reason, whose control characters the
//    decoder replaces: a reason has none and survives its own encoding).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <span>
#include <vector>

#include "fuzz_support.hpp"
#include "machine/snapshot_format.hpp"
#include "hypervisor/migration_stream.hpp"

using namespace nimbus::hypervisor;
using namespace nimbus::hypervisor::migration;

namespace {

constexpr FrameType kTypes[] = {FrameType::hello, FrameType::accept, FrameType::refuse, FrameType::pages, FrameType::state,
                                FrameType::end,   FrameType::ready,  FrameType::go,     FrameType::started,
                                FrameType::abort};

VmConfig seed_config() {
  VmConfig c;
  c.name = "vm1";
  c.mode = VirtMode::emulate;
  c.vcpus = 2;
  c.memory_bytes = 64ull << 20;
  c.kernel = "/boot/Image";
  c.append = "console=ttyS0";
  return c;
}

void append(std::vector<uint8_t>& out, FrameType type, uint32_t& seq, const std::vector<uint8_t>& payload) {
  const auto frame = encode_frame(type, seq++, payload);
  out.insert(out.end(), frame.begin(), frame.end());
}

// Every frame parse_frame takes from the front must be the bytes encode_frame writes for it.
void check_frames_reencode(std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    size_t consumed = 0, needed = 0;
    std::optional<Frame> frame;
    try {
      frame = parse_frame(bytes, consumed, needed);
    } catch (const StreamError&) {
      return;
    }
    if (!frame) {
      FUZZ_CHECK(needed > bytes.size());
      return;
    }
    FUZZ_CHECK(consumed >= kHeaderSize && consumed <= bytes.size());
    FUZZ_CHECK(frame->payload.size() == consumed - kHeaderSize);
    const auto again = encode_frame(frame->type, frame->sequence, frame->payload);
    FUZZ_CHECK(again.size() == consumed && std::memcmp(again.data(), bytes.data(), consumed) == 0);
    bytes = bytes.subspan(consumed);
  }
}

// Decodes a payload by its type (a StreamError is a refusal: fine). What decodes must encode
// back to the same payload where there is one encoding, and re-encoded values must decode again:
// those checks sit outside the try, so a StreamError there is a crash.
template <typename T, typename F>
std::optional<T> decoded(F&& decode) {
  try {
    return decode();
  } catch (const StreamError&) {
    return std::nullopt;
  }
}

void check_payload_round_trip(FrameType type, const std::vector<uint8_t>& payload) {
  switch (type) {
  case FrameType::hello:
    if (const auto hello = decoded<Hello>([&] { return decode_hello(payload); }))
      FUZZ_CHECK(decode_hello(encode_hello(hello->config)).ram_size == hello->ram_size);
    break;
  case FrameType::refuse:
  case FrameType::abort:
    // Control characters are replaced (no terminal control from a peer), so the payload is not
    // kept byte for byte: the text has none, and it survives its own encoding unchanged.
    if (const auto reason = decoded<std::string>([&] { return decode_reason(payload); })) {
      for (const char c : *reason) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
      FUZZ_CHECK(decode_reason(encode_reason(*reason)) == *reason);
    }
    break;
  case FrameType::pages:
    if (const auto batch = decoded<PageBatch>([&] { return decode_pages(payload, 1u << 20); })) {
      FUZZ_CHECK(batch->pages.size() <= kMaxPagesPerFrame);
      PageBatchWriter writer(batch->round);
      for (const auto& p : batch->pages) {
        FUZZ_CHECK(p.page < (1u << 20));
        FUZZ_CHECK(p.data.empty() || p.data.size() == kPageSize);
        writer.add(p.page, p.data.empty() ? nullptr : p.data.data());
      }
      FUZZ_CHECK(writer.take() == payload);
    }
    break;
  case FrameType::state:
    if (const auto state = decoded<StateMessage>([&] { return decode_state(payload); })) {
      // Re-encoded in the container version it came in (any readable one: an older writer's).
      bool same = false;
      for (uint32_t v = nimbus::machine::snapshot::kOldestReadableVersion; v <= nimbus::machine::snapshot::kVersion && !same; ++v)
        same = encode_state(state->paused_at_realtime_ns, state->sections, v) == payload;
      FUZZ_CHECK(same);
    }
    break;
  case FrameType::end:
    if (const auto end = decoded<EndMessage>([&] { return decode_end(payload); }))
      FUZZ_CHECK(encode_end(*end) == payload);
    break;
  default:
    break;
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  // Seeds: a whole valid stream (raw), and the same frames in the structured form.
  std::vector<uint8_t> page(kPageSize);
  for (size_t i = 0; i < page.size(); ++i) page[i] = static_cast<uint8_t>(i * 7);
  PageBatchWriter round0(0);
  round0.add(0, page.data());
  round0.add(5, nullptr);
  nimbus::machine::snapshot::Writer vm;
  vm.u64(123456);
  vm.u64(7);
  const std::vector<nimbus::machine::snapshot::Section> sections = {
      {nimbus::machine::snapshot::make_tag("CPU_"), 0, vm.take()}};
  const std::vector<std::pair<FrameType, std::vector<uint8_t>>> frames = {
      {FrameType::hello, encode_hello(seed_config())},
      {FrameType::pages, round0.take()},
      {FrameType::state, encode_state(1'700'000'000'000'000'000, sections)},
      {FrameType::end, encode_end(EndMessage{2, 1})},
      {FrameType::go, {}}};
  std::vector<uint8_t> raw{0};
  uint32_t seq = 0;
  nimbus::fuzz::ByteWriter structured;
  structured.u8(1);
  for (const auto& [type, payload] : frames) {
    append(raw, type, seq, payload);
    structured.u8(static_cast<uint8_t>(static_cast<uint16_t>(type) - 1));
    structured.u32(static_cast<uint32_t>(payload.size()));
    structured.bytes(payload);
  }
  nimbus::fuzz::write_seed("stream_raw", raw);
  nimbus::fuzz::write_seed("stream_frames", structured.out);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint8_t> stream;
  if ((data[0] & 1) == 0) {
    stream.assign(data + 1, data + size);
    check_frames_reencode(stream);
  } else {
    nimbus::fuzz::ByteReader in(data + 1, size - 1);
    uint32_t seq = 0;
    while (!in.empty()) {
      const FrameType type = kTypes[in.u8() % std::size(kTypes)];
      // At most the type's limit: encode_frame refuses more (the raw path tests oversized headers).
      const std::vector<uint8_t> payload = in.bytes(in.u32() % (uint64_t{max_payload(type)} + 1));
      check_payload_round_trip(type, payload);
      append(stream, type, seq, payload);
    }
  }
  try {
    check_source_stream(stream);
  } catch (const StreamError&) {
  }
  return 0;
}
