// Start-of-training agreement on the model: every rank must hold the same parameter names and
// shapes, and then rank 0's values.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::ddp {

using NamedParameters = std::vector<std::pair<std::string, at::Tensor>>;

// "name[d0,d1]" per parameter, one per line: what ranks compare.
std::string describeParameters(const NamedParameters& parameters);

// Collective over the CPU control communicator. Throws UserError on every rank if any rank's
// parameters differ from rank 0's, naming the first difference.
void verifySameParameters(comm::Communicator& control, const NamedParameters& parameters);

// Overwrites every rank's parameter values with rank 0's, one tensor at a time in place.
void broadcastParameters(comm::Communicator& comm, const NamedParameters& parameters);

}  // namespace ringtrain::ddp
