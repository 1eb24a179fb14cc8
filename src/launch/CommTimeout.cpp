#include "CommTimeout.h"

#include "ringtrain/util/Error.h"

namespace ringtrain::launch {

void checkCommTimeout(double seconds, const std::string& what) {
  // Below 1 ms a limit rounds to none at all, which is not what anyone asking for one meant.
  RINGTRAIN_USER_CHECK(seconds == 0 || (seconds >= 0.001 && seconds <= 7 * 24 * 3600),
                       what << " must be 0 (none) or 0.001 to 604800 seconds, got " << seconds);
}

void checkHeartbeatTimeout(double seconds, const std::string& what) {
  RINGTRAIN_USER_CHECK(seconds == 0 || (seconds >= 0.5 && seconds <= 7 * 24 * 3600),
                       what << " must be 0 (none) or 0.5 to 604800 seconds, got " << seconds);
}

}  // namespace ringtrain::launch
