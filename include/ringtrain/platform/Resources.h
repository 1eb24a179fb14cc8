// What this process has used so far, for summaries and benchmarks.
#pragma once

#include <cstdint>

namespace ringtrain::platform {

// Peak resident set size of this process, in bytes (0 where the OS does not say).
int64_t peakResidentBytes();

}  // namespace ringtrain::platform
