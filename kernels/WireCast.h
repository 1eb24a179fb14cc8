// Gradient compression for the allreduce: a bucket narrowed to 16 bits (scaled on the way, so that
// the division of the average can happen before the sum and keep it in range) and widened back.
#pragma once

#include <cstdint>

#include "Spans.h"
#include "WireFormat.h"

namespace ringtrain::kernels {

// wire[i] = toWire(source[i] * scale)
void narrowScaledCpu(const float* source, uint16_t* wire, int64_t size, float scale,
                     WireFormat format);
// destination[i] = fromWire(wire[i])
void widenCpu(const uint16_t* wire, float* destination, int64_t size, WireFormat format);

// The same in device memory, enqueued on `stream` (a cudaStream_t).
void narrowScaledCuda(const float* source, uint16_t* wire, int64_t size, float scale,
                      WireFormat format, void* stream);
void widenCuda(const uint16_t* wire, float* destination, int64_t size, WireFormat format,
               void* stream);

}  // namespace ringtrain::kernels
