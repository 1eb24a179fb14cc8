// Stored feature values (any ElementType) to the float32 the models take.
#pragma once

#include <cstdint>

#include "data/ShardFormat.h"

namespace ringtrain::data {

// to[i] = float(stored element i of `from`) x scale, for i < count. `from` need not be aligned.
void convertToFloat(ElementType type, const char* from, int64_t count, float scale, float* to);

// One stored integer element (a token id); `from` need not be aligned. 0 for float types.
int64_t integerAt(ElementType type, const char* from);

}  // namespace ringtrain::data
