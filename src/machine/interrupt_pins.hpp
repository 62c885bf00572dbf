#pragma once
// The interrupt wires from board devices into one hart. Devices drive level-sensitive mip bits
// (MSIP, MTIP, SEIP, MEIP); the hart samples them at block boundaries, so setting a pin is
// cheap and never touches hart state directly.
#include <atomic>
#include <cstdint>

namespace nimbus::machine {

class InterruptPins {
public:
  void set(unsigned mip_bit, bool level) {
    const uint64_t mask = uint64_t{1} << mip_bit;
    if (level) {
      const uint64_t before = level_.fetch_or(mask, std::memory_order_release);
      if ((before & mask) == 0) {
        if (Waker* waker = waker_.load(std::memory_order_acquire)) waker->ring();
      }
    } else {
      level_.fetch_and(~mask, std::memory_order_release);
    }
  }
  // A hart on its own host thread sleeps while it waits for an interrupt: a rising pin rings
  // its waker (from whichever thread drove the pin) so it looks again.
  class Waker {
  public:
    virtual void ring() = 0;

  protected:
    ~Waker() = default;
  };
  void set_waker(Waker* waker) { waker_.store(waker, std::memory_order_release); }
  uint64_t sample() const { return level_.load(std::memory_order_acquire); }
  // For generated code that samples the pins itself (an aligned 64-bit load is atomic on x86-64).
  const void* level_address() const { return &level_; }

private:
  std::atomic<uint64_t> level_{0};
  std::atomic<Waker*> waker_{nullptr};
};

} // namespace nimbus::machine
