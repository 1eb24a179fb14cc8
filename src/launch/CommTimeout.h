// The rules for a communication timeout, --comm-timeout's and RuntimeOptions': 0 (wait forever),
// or 1 ms to a week; and for --heartbeat-timeout.
#pragma once

#include <string>

namespace ringtrain::launch {

// UserError "<what> must be 0 (none) or 0.001 to 604800 seconds, got <seconds>" otherwise.
void checkCommTimeout(double seconds, const std::string& what);
// The heartbeat timeout's: 0 (no heartbeats), or 0.5 s to a week; heartbeats go out ten times per
// timeout and at least once a second.
void checkHeartbeatTimeout(double seconds, const std::string& what);

}  // namespace ringtrain::launch
