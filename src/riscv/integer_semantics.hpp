#pragma once
// Integer instruction semantics as plain functions on register values. The interpreter's
// handlers call these, and a later JIT tier can call or inline the same definitions.
#include <cstdint>

namespace nimbus::riscv::sem {

__extension__ using int128 = __int128;
__extension__ using uint128 = unsigned __int128;

constexpr uint64_t sext32(uint64_t v) { return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v))); }
constexpr int64_t s(uint64_t v) { return static_cast<int64_t>(v); }

constexpr uint64_t add(uint64_t a, uint64_t b) { return a + b; }
constexpr uint64_t sub(uint64_t a, uint64_t b) { return a - b; }
constexpr uint64_t sll(uint64_t a, uint64_t b) { return a << (b & 63); }
constexpr uint64_t srl(uint64_t a, uint64_t b) { return a >> (b & 63); }
constexpr uint64_t sra(uint64_t a, uint64_t b) { return static_cast<uint64_t>(s(a) >> (b & 63)); }
constexpr uint64_t slt(uint64_t a, uint64_t b) { return s(a) < s(b) ? 1 : 0; }
constexpr uint64_t sltu(uint64_t a, uint64_t b) { return a < b ? 1 : 0; }
constexpr uint64_t bxor(uint64_t a, uint64_t b) { return a ^ b; }
constexpr uint64_t bor(uint64_t a, uint64_t b) { return a | b; }
constexpr uint64_t band(uint64_t a, uint64_t b) { return a & b; }

constexpr uint64_t addw(uint64_t a, uint64_t b) { return sext32(a + b); }
constexpr uint64_t subw(uint64_t a, uint64_t b) { return sext32(a - b); }
constexpr uint64_t sllw(uint64_t a, uint64_t b) { return sext32(static_cast<uint32_t>(a) << (b & 31)); }
constexpr uint64_t srlw(uint64_t a, uint64_t b) { return sext32(static_cast<uint32_t>(a) >> (b & 31)); }
constexpr uint64_t sraw(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(a) >> (b & 31)));
}

constexpr uint64_t mul(uint64_t a, uint64_t b) { return a * b; }
constexpr uint64_t mulh(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>((static_cast<int128>(s(a)) * static_cast<int128>(s(b))) >> 64);
}
constexpr uint64_t mulhu(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>((static_cast<uint128>(a) * b) >> 64);
}
constexpr uint64_t mulhsu(uint64_t a, uint64_t b) {
  // signed a times unsigned b: the unsigned high product corrected for a's sign.
  const uint64_t high = mulhu(a, b);
  return s(a) < 0 ? high - b : high;
}
constexpr uint64_t div(uint64_t a, uint64_t b) {
  if (b == 0) return ~uint64_t{0};
  if (s(a) == INT64_MIN && s(b) == -1) return a;
  return static_cast<uint64_t>(s(a) / s(b));
}
constexpr uint64_t divu(uint64_t a, uint64_t b) { return b == 0 ? ~uint64_t{0} : a / b; }
constexpr uint64_t rem(uint64_t a, uint64_t b) {
  if (b == 0) return a;
  if (s(a) == INT64_MIN && s(b) == -1) return 0;
  return static_cast<uint64_t>(s(a) % s(b));
}
constexpr uint64_t remu(uint64_t a, uint64_t b) { return b == 0 ? a : a % b; }

constexpr uint64_t mulw(uint64_t a, uint64_t b) { return sext32(static_cast<uint32_t>(a) * static_cast<uint32_t>(b)); }
constexpr uint64_t divw(uint64_t a, uint64_t b) {
  const auto x = static_cast<int32_t>(a), y = static_cast<int32_t>(b);
  if (y == 0) return ~uint64_t{0};
  if (x == INT32_MIN && y == -1) return sext32(static_cast<uint32_t>(x));
  return sext32(static_cast<uint32_t>(x / y));
}
constexpr uint64_t divuw(uint64_t a, uint64_t b) {
  const auto x = static_cast<uint32_t>(a), y = static_cast<uint32_t>(b);
  return y == 0 ? ~uint64_t{0} : sext32(x / y);
}
constexpr uint64_t remw(uint64_t a, uint64_t b) {
  const auto x = static_cast<int32_t>(a), y = static_cast<int32_t>(b);
  if (y == 0) return sext32(static_cast<uint32_t>(x));
  if (x == INT32_MIN && y == -1) return 0;
  return sext32(static_cast<uint32_t>(x % y));
}
constexpr uint64_t remuw(uint64_t a, uint64_t b) {
  const auto x = static_cast<uint32_t>(a), y = static_cast<uint32_t>(b);
  return y == 0 ? sext32(x) : sext32(x % y);
}

constexpr bool beq(uint64_t a, uint64_t b) { return a == b; }
constexpr bool bne(uint64_t a, uint64_t b) { return a != b; }
constexpr bool blt(uint64_t a, uint64_t b) { return s(a) < s(b); }
constexpr bool bge(uint64_t a, uint64_t b) { return s(a) >= s(b); }
constexpr bool bltu(uint64_t a, uint64_t b) { return a < b; }
constexpr bool bgeu(uint64_t a, uint64_t b) { return a >= b; }

// AMO combine functions: new memory value from old memory value and rs2 (already width-reduced
// and sign-extended for W forms).
constexpr uint64_t amo_swap(uint64_t, uint64_t b) { return b; }
constexpr uint64_t amo_min(uint64_t a, uint64_t b) { return s(a) < s(b) ? a : b; }
constexpr uint64_t amo_max(uint64_t a, uint64_t b) { return s(a) > s(b) ? a : b; }
constexpr uint64_t amo_minu(uint64_t a, uint64_t b) { return a < b ? a : b; }
constexpr uint64_t amo_maxu(uint64_t a, uint64_t b) { return a > b ? a : b; }

} // namespace nimbus::riscv::sem
