// Running a fallible step on every rank so that all ranks fail together. Setup (parsing flags,
// reading data, creating the output directory) may fail on one rank only, for example when a file
// is missing on one host; without agreement the other ranks would wait forever in their first
// collective. After the step, ranks compare notes and either all continue or all throw.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

#include "ringtrain/Export.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::comm {

// Thrown on every rank when the step failed somewhere. Exactly one rank (the lowest failing one)
// has reporter() true and carries the original message; the others carry an empty one and should
// exit quietly with exitCode().
class RINGTRAIN_API CollectiveFailure : public std::runtime_error {
 public:
  CollectiveFailure(const std::string& message, bool reporter, int exitCode)
      : std::runtime_error(message), reporter_(reporter), exitCode_(exitCode) {}
  bool reporter() const { return reporter_; }
  int exitCode() const { return exitCode_; }

 private:
  bool reporter_;
  int exitCode_;
};

// `control` must be a CPU communicator. UserError maps to exit code 2, anything else to 1.
RINGTRAIN_API void runOnAllRanks(Communicator& control, const std::function<void()>& step);

// Every rank returns `root`'s `text` (the others' argument is ignored). Collective, on a CPU
// communicator.
RINGTRAIN_API std::string broadcastString(Communicator& control, const std::string& text, int root);

// Point to point on a CPU communicator: `peer` must call the other one.
RINGTRAIN_API void sendString(Communicator& control, const std::string& text, int peer);
RINGTRAIN_API std::string receiveString(Communicator& control, int peer);

}  // namespace ringtrain::comm
