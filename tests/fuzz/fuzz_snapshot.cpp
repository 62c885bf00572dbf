// Fuzz target: the snapshot state file (machine/snapshot_format.*) and the device state it
// carries (Board::restore_state, Hart::restore_state).
//
// The first byte picks how the rest is read:
//  - even: a whole state file for snapshot::decode. Beyond "no crash": decode either throws
//    FormatError or returns sections that encode() writes back byte for byte (the format has
//    exactly one encoding, so a file that decodes is the file that encode wrote).
//  - odd: sections (tag, instance, payload) that are encoded with valid checksums first, so the
//    fuzzer gets past the CRCs to the device payloads. encode -> decode must give the sections
//    back; then a board (UART, PLIC, CLINT, RTC, virtio-blk, virtio-rng) and a hart restore them:
//    either a FormatError, or a state that saves, restores and saves again to the same bytes.
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <vector>

#include "fuzz_support.hpp"
#include "machine/board.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart.hpp"
#include "machine/hart_reservation_set.hpp"
#include "machine/snapshot_format.hpp"

using namespace nimbus::machine;
namespace snap = nimbus::machine::snapshot;

namespace {

constexpr uint64_t kRamSize = 1ull << 20;
constexpr uint32_t kHartTag = snap::make_tag("HART");
// Tags the structured input picks from by index (anything else: the raw 32-bit tag follows).
const uint32_t kTags[] = {snap::make_tag("UART"), snap::make_tag("PLIC"), snap::make_tag("CLNT"),
                          snap::make_tag("RTC_"), snap::make_tag("VIRT"), kHartTag};

struct World {
  nimbus::fuzz::ScratchFile disk{64 * 1024};
  Clock clock{true};
  ReservationSet reservations;
  BoardConfig config() const {
    BoardConfig c;
    c.ram_size = kRamSize;
    c.drive_path = disk.path();
    return c;
  }
};
World& world() {
  static World w;
  return w;
}

// A board and its hart on a bus of their own (a bus keeps its devices' windows for good).
struct Rig {
  Bus bus{Board::kRamBase, kRamSize};
  Hart hart;
  Board board;
  explicit Rig(World& w) : hart(0, bus, w.clock, w.reservations), board(w.config(), bus, w.clock, {&hart.pins()}) {
    hart.reset(Board::kRamBase);
  }
};

std::vector<snap::Section> save_all(Board& board, Hart& hart) {
  std::vector<snap::Section> out;
  board.save_state(out);
  snap::Writer w;
  hart.save_state(w);
  out.push_back(snap::Section{kHartTag, 0, w.take()});
  return out;
}

void restore_all(Board& board, Hart& hart, const std::vector<snap::Section>& sections) {
  board.restore_state(sections);
  for (const auto& s : sections) {
    if (s.tag != kHartTag || s.instance != 0) continue;
    snap::Reader in(s);
    hart.restore_state(in);
    in.expect_end();
  }
}

bool same(const std::vector<snap::Section>& a, const std::vector<snap::Section>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].tag != b[i].tag || a[i].instance != b[i].instance || a[i].payload != b[i].payload) return false;
  return true;
}

// Structured input: per section one byte choosing the tag (index into kTags, else a raw tag
// follows), one byte of instance, a 16-bit payload length, the payload.
std::vector<snap::Section> read_sections(nimbus::fuzz::ByteReader& in) {
  std::vector<snap::Section> sections;
  while (!in.empty() && sections.size() < 16) {
    snap::Section s;
    const uint8_t choice = in.u8();
    s.tag = choice < std::size(kTags) ? kTags[choice] : in.u32();
    s.instance = in.u8();
    s.payload = in.bytes(in.u16());
    sections.push_back(std::move(s));
  }
  return sections;
}

void write_sections(nimbus::fuzz::ByteWriter& out, const std::vector<snap::Section>& sections) {
  for (const auto& s : sections) {
    size_t choice = 0;
    while (choice < std::size(kTags) && kTags[choice] != s.tag) ++choice;
    out.u8(static_cast<uint8_t>(choice < std::size(kTags) ? choice : 0xff));
    if (choice == std::size(kTags)) out.u32(s.tag);
    out.u8(static_cast<uint8_t>(s.instance));
    out.u16(static_cast<uint16_t>(s.payload.size()));
    out.bytes(s.payload);
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  // Seeds: the state of a freshly built board and hart, as a file and as structured sections.
  Rig rig(world());
  const auto sections = save_all(rig.board, rig.hart);
  std::vector<uint8_t> file{0};
  const auto encoded = snap::encode(sections);
  file.insert(file.end(), encoded.begin(), encoded.end());
  nimbus::fuzz::write_seed("board_file", file);
  nimbus::fuzz::ByteWriter structured;
  structured.u8(1);
  write_sections(structured, sections);
  nimbus::fuzz::write_seed("board_sections", structured.out);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<snap::Section> sections;
  if ((data[0] & 1) == 0) {
    const std::span<const uint8_t> file(data + 1, size - 1);
    try {
      sections = snap::decode(file);
    } catch (const snap::FormatError&) {
      return 0;
    }
    const auto again = snap::encode(sections);
    FUZZ_CHECK(again.size() == file.size() && std::equal(again.begin(), again.end(), file.begin()));
  } else {
    nimbus::fuzz::ByteReader in(data + 1, size - 1);
    sections = read_sections(in);
    std::vector<snap::Section> decoded;
    try {
      decoded = snap::decode(snap::encode(sections));
    } catch (const snap::FormatError&) {
      // Only duplicates are refused when the writer made the file.
      bool duplicate = false;
      for (size_t i = 0; i < sections.size(); ++i)
        for (size_t j = 0; j < i; ++j)
          duplicate |= sections[i].tag == sections[j].tag && sections[i].instance == sections[j].instance;
      FUZZ_CHECK(duplicate);
      return 0;
    }
    FUZZ_CHECK(same(decoded, sections));
  }

  std::vector<snap::Section> saved;
  {
    Rig rig(world());
    try {
      restore_all(rig.board, rig.hart, sections);
    } catch (const snap::FormatError&) {
      return 0;
    }
    saved = save_all(rig.board, rig.hart);
  } // the board holds the disk image's lock until here
  // Restored: the state must survive another save/restore unchanged.
  Rig again(world());
  try {
    restore_all(again.board, again.hart, saved);
  } catch (const snap::FormatError& e) {
    std::fprintf(stderr, "a saved state does not restore: %s\n", e.what());
    FUZZ_CHECK(false);
  }
  FUZZ_CHECK(same(save_all(again.board, again.hart), saved));
  return 0;
}
