#include "data/ElementConversion.h"

#include <c10/util/Half.h>

#include <cstdint>
#include <cstring>

namespace ringtrain::data {
namespace {

// The loop the compiler vectorises: this is most of the loader's CPU time for image data.
template <typename T>
void convert(const char* from, int64_t count, float scale, float* to) {
  if (reinterpret_cast<uintptr_t>(from) % alignof(T) != 0) {
    for (int64_t i = 0; i < count; ++i) {
      T value;
      std::memcpy(&value, from + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
      to[i] = static_cast<float>(value) * scale;
    }
    return;
  }
  const T* values = reinterpret_cast<const T*>(from);
  for (int64_t i = 0; i < count; ++i) to[i] = static_cast<float>(values[i]) * scale;
}

template <typename T>
int64_t load(const char* from) {
  T value;
  std::memcpy(&value, from, sizeof(T));
  return static_cast<int64_t>(value);
}

}  // namespace

int64_t integerAt(ElementType type, const char* from) {
  switch (type) {
    case ElementType::kUInt8:
      return load<uint8_t>(from);
    case ElementType::kUInt16:
      return load<uint16_t>(from);
    case ElementType::kInt32:
      return load<int32_t>(from);
    case ElementType::kInt64:
      return load<int64_t>(from);
    case ElementType::kFloat16:
    case ElementType::kFloat32:
      return 0;
  }
  return 0;
}

void convertToFloat(ElementType type, const char* from, int64_t count, float scale, float* to) {
  switch (type) {
    case ElementType::kUInt8:
      return convert<uint8_t>(from, count, scale, to);
    case ElementType::kFloat16:
      return convert<c10::Half>(from, count, scale, to);
    case ElementType::kFloat32:
      if (scale == 1.0f) {
        std::memcpy(to, from, static_cast<size_t>(count) * sizeof(float));
        return;
      }
      return convert<float>(from, count, scale, to);
    case ElementType::kInt64:
      return convert<int64_t>(from, count, scale, to);
    case ElementType::kUInt16:
      return convert<uint16_t>(from, count, scale, to);
    case ElementType::kInt32:
      return convert<int32_t>(from, count, scale, to);
  }
}

}  // namespace ringtrain::data
