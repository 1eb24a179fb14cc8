// Averages gradients across ranks once per optimizer step with a single allreduce over one flat
// buffer (all gradients plus a few caller-supplied scalars such as the step's loss, which thereby
// ride along for free). Bucketing and overlap with backward build on this later.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::ddp {

class GradientAverager {
 public:
  GradientAverager(comm::Communicator& comm,
                   std::vector<std::pair<std::string, at::Tensor>> namedParameters);

  // Replaces every parameter's .grad with its mean over ranks, and returns the mean over ranks of
  // `scalars` (a 1-D float tensor on the parameters' device). A parameter without a gradient is
  // an error naming it.
  at::Tensor average(const at::Tensor& scalars);

 private:
  comm::Communicator& comm_;
  std::vector<std::pair<std::string, at::Tensor>> parameters_;
};

}  // namespace ringtrain::ddp
