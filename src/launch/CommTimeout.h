// The rule for a communication timeout, --comm-timeout's and RuntimeOptions': 0 (wait forever),
// or 1 ms to a week.
#pragma once

#include <string>

namespace ringtrain::launch {

// UserError "<what> must be 0 (none) or 0.001 to 604800 seconds, got <seconds>" otherwise.
void checkCommTimeout(double seconds, const std::string& what);

}  // namespace ringtrain::launch
