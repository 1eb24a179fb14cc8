// CRC-32C (Castagnoli), the checksum of iSCSI, ext4 and SSE4.2's crc32 instruction: detects every
// burst error up to 32 bits and the torn or truncated writes that checkpoints must survive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringtrain {

// `previous` chains calls: crc32c(b, crc32c(a)) == crc32c(a + b).
uint32_t crc32c(std::string_view bytes, uint32_t previous = 0);
// The table-driven computation, whatever the CPU offers; crc32c must always equal it.
uint32_t crc32cPortable(std::string_view bytes, uint32_t previous = 0);

}  // namespace ringtrain
