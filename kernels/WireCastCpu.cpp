#include "WireCast.h"

namespace ringtrain::kernels {

void narrowScaledCpu(const float* source, uint16_t* wire, int64_t size, float scale,
                     WireFormat format) {
  if (format == WireFormat::kFp16) {
    for (int64_t i = 0; i < size; ++i) wire[i] = toFp16(source[i] * scale);
  } else {
    for (int64_t i = 0; i < size; ++i) wire[i] = toBf16(source[i] * scale);
  }
}

void widenCpu(const uint16_t* wire, float* destination, int64_t size, WireFormat format) {
  if (format == WireFormat::kFp16) {
    for (int64_t i = 0; i < size; ++i) destination[i] = fromFp16(wire[i]);
  } else {
    for (int64_t i = 0; i < size; ++i) destination[i] = fromBf16(wire[i]);
  }
}

}  // namespace ringtrain::kernels
