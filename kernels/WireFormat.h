// float32 to and from the 16-bit formats gradients travel in when --grad-compression is on. Both
// round to nearest, ties to even, as LibTorch's conversions do: values beyond fp16's range become
// infinities (the overflow the loss scaler looks for), NaN stays NaN.
#pragma once

#include "HostDevice.h"

namespace ringtrain::kernels {

enum class WireFormat { kFp16, kBf16 };

RINGTRAIN_HOST_DEVICE uint16_t toBf16(float value) {
  const uint32_t bits = bitsOf(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;  // any NaN: the canonical quiet one
  const uint32_t roundingBias = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + roundingBias) >> 16);
}

RINGTRAIN_HOST_DEVICE float fromBf16(uint16_t wire) {
  return floatFromBits(static_cast<uint32_t>(wire) << 16);
}

RINGTRAIN_HOST_DEVICE uint16_t toFp16(float value) {
  const uint32_t bits = bitsOf(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) return sign | 0x7E00;   // NaN
  if (magnitude >= 0x477FF000u) return sign | 0x7C00;  // 65520 and beyond round to infinity
  uint32_t half;
  uint32_t remainder;
  uint32_t halfway;
  if (magnitude >= 0x38800000u) {  // a normal fp16: rebias the exponent, keep 10 mantissa bits
    half = (magnitude - 0x38000000u) >> 13;
    remainder = magnitude & 0x1FFFu;
    halfway = 0x1000u;
  } else {  // an fp16 subnormal, in units of 2^-24
    const uint32_t exponent = magnitude >> 23;
    if (exponent < 102) return sign;  // below half the smallest subnormal
    const uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - exponent;
    half = significand >> shift;
    remainder = significand & ((1u << shift) - 1);
    halfway = 1u << (shift - 1);
  }
  if (remainder > halfway || (remainder == halfway && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

RINGTRAIN_HOST_DEVICE float fromFp16(uint16_t wire) {
  const uint32_t sign = static_cast<uint32_t>(wire & 0x8000u) << 16;
  const uint32_t exponent = (wire >> 10) & 0x1Fu;
  const uint32_t mantissa = wire & 0x3FFu;
  if (exponent == 0x1F) return floatFromBits(sign | 0x7F800000u | (mantissa << 13));
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float32
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign ? -magnitude : magnitude;
  }
  return floatFromBits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

RINGTRAIN_HOST_DEVICE uint16_t toWire(float value, WireFormat format) {
  return format == WireFormat::kFp16 ? toFp16(value) : toBf16(value);
}

RINGTRAIN_HOST_DEVICE float fromWire(uint16_t wire, WireFormat format) {
  return format == WireFormat::kFp16 ? fromFp16(wire) : fromBf16(wire);
}

}  // namespace ringtrain::kernels
