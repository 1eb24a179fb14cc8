#include "util/Crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define RINGTRAIN_CRC32C_SSE42 1
#endif

namespace ringtrain {
namespace {

constexpr uint32_t kReflectedPolynomial = 0x82F63B78u;

constexpr std::array<uint32_t, 256> makeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t value = byte;
    for (int bit = 0; bit < 8; ++bit) {
      value = (value >> 1) ^ ((value & 1u) ? kReflectedPolynomial : 0u);
    }
    table[byte] = value;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = makeTable();

uint32_t softwareCrc(std::string_view bytes, uint32_t crc) {
  for (const char c : bytes) crc = (crc >> 8) ^ kTable[(crc ^ static_cast<uint8_t>(c)) & 0xFFu];
  return crc;
}

#ifdef RINGTRAIN_CRC32C_SSE42
// The SSE4.2 crc32 instruction computes the same polynomial 8 bytes at a time, fast enough that
// checksumming a checkpoint costs little next to writing it.
__attribute__((target("sse4.2"))) uint32_t hardwareCrc(std::string_view bytes, uint32_t crc) {
  const char* data = bytes.data();
  size_t left = bytes.size();
  uint64_t wide = crc;
  for (; left >= 8; left -= 8, data += 8) {
    uint64_t word;
    std::memcpy(&word, data, 8);
    wide = _mm_crc32_u64(wide, word);
  }
  crc = static_cast<uint32_t>(wide);
  for (; left > 0; --left, ++data) crc = _mm_crc32_u8(crc, static_cast<uint8_t>(*data));
  return crc;
}
#endif

}  // namespace

uint32_t crc32c(std::string_view bytes, uint32_t previous) {
#ifdef RINGTRAIN_CRC32C_SSE42
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return ~hardwareCrc(bytes, ~previous);
#endif
  return ~softwareCrc(bytes, ~previous);
}

uint32_t crc32cPortable(std::string_view bytes, uint32_t previous) {
  return ~softwareCrc(bytes, ~previous);
}

}  // namespace ringtrain
