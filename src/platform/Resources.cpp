#include "ringtrain/platform/Resources.h"

#include <sys/resource.h>

namespace ringtrain::platform {

int64_t peakResidentBytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace ringtrain::platform
