#include "MultiTensorLaunch.cuh"
#include "WireCast.h"

namespace ringtrain::kernels {
namespace {

struct NarrowSpan {
  const float* source;
  uint16_t* wire;
  int64_t size;
};

struct WidenSpan {
  const uint16_t* wire;
  float* destination;
  int64_t size;
};

struct Narrow {
  float scale;
  WireFormat format;
  __device__ void operator()(const NarrowSpan& span, const char&, int64_t i) const {
    span.wire[i] = toWire(span.source[i] * scale, format);
  }
};

struct Widen {
  WireFormat format;
  __device__ void operator()(const WidenSpan& span, const char&, int64_t i) const {
    span.destination[i] = fromWire(span.wire[i], format);
  }
};

}  // namespace

void narrowScaledCuda(const float* source, uint16_t* wire, int64_t size, float scale,
                      WireFormat format, void* stream) {
  forEachElement(std::vector<NarrowSpan>{{source, wire, size}}, std::vector<char>(1),
                 Narrow{scale, format}, stream, "narrowScaled");
}

void widenCuda(const uint16_t* wire, float* destination, int64_t size, WireFormat format,
               void* stream) {
  forEachElement(std::vector<WidenSpan>{{wire, destination, size}}, std::vector<char>(1),
                 Widen{format}, stream, "widen");
}

}  // namespace ringtrain::kernels
