// Fuzz target: the boot loaders (machine/boot_loader.*): ELF, Linux Image and raw binaries.
//
// The first byte picks the loader (ELF, raw at a chosen address, or ELF-if-it-looks-like-one as
// `nimbus run --kernel` does); the rest is the file. Beyond "no crash", with guest RAM filled
// with a pattern first:
//  - a load either throws BootError naming the file, or returns an image whose
//    [start, end) lies inside RAM, whose entry is inside it for raw images, and which changed no
//    byte of RAM outside [start, end) (segments land where the image says, nothing else moves);
//  - a raw image's bytes are in RAM at its address exactly as in the file, and a Linux Image
//    reserves at least its header's image_size.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "machine/boot_loader.hpp"
#include "machine/bus.hpp"

using namespace nimbus::machine;

namespace {

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kRamSize = 2ull << 20;
constexpr uint8_t kPattern = 0xa5;

Bus& bus() {
  static Bus b(kRamBase, kRamSize);
  return b;
}

bool untouched(const uint8_t* p, uint64_t len) {
  static const std::vector<uint8_t> pattern(kRamSize, kPattern);
  return std::memcmp(p, pattern.data(), len) == 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t mode = data[0] % 3;
  // Raw images go at RAM base + a 4 KiB-page offset from the input (possibly past the end).
  const uint64_t raw_address = kRamBase + uint64_t{data[1]} * 0x4000;
  const std::vector<uint8_t> file(data + 2, data + size);
  Bus& b = bus();
  std::memset(b.ram(), kPattern, kRamSize);

  LoadedImage image;
  try {
    if (mode == 0) image = load_elf(b, "fuzz.elf", file);
    else if (mode == 1 || !looks_like_elf(file)) image = load_raw(b, "fuzz.bin", file, raw_address);
    else image = load_elf(b, "fuzz.elf", file);
  } catch (const BootError& e) {
    FUZZ_CHECK(std::strncmp(e.what(), "fuzz.", 5) == 0);
    return 0;
  }
  FUZZ_CHECK(image.start >= kRamBase && image.start <= image.end && image.end <= kRamBase + kRamSize);
  FUZZ_CHECK(untouched(b.ram(), image.start - kRamBase));
  FUZZ_CHECK(untouched(b.ram() + (image.end - kRamBase), kRamBase + kRamSize - image.end));
  if (!image.elf) {
    FUZZ_CHECK(image.start == raw_address && image.entry == raw_address);
    FUZZ_CHECK(image.end - image.start >= file.size());
    FUZZ_CHECK(std::memcmp(b.ram() + (raw_address - kRamBase), file.data(), file.size()) == 0);
    if (image.linux_image) {
      uint64_t image_size = 0;
      std::memcpy(&image_size, file.data() + 0x10, 8);
      FUZZ_CHECK(image.end - image.start >= image_size);
    }
  }
  return 0;
}
