// An optimizer's state as bytes (LibTorch's archive, the format of a checkpoint's optimizer.pt),
// and the state of given parameters carried from one optimizer to another that holds them too.
// Pipeline stages use these to take their own part of a whole model's optimizer that a
// checkpoint restored, and the library's legacy optimizer.pt is this archive.
#pragma once

#include <torch/optim/optimizer.h>

#include <string>
#include <vector>

namespace ringtrain::train {

std::string optimizerBytes(torch::optim::Optimizer& optimizer);

// The state saved by optimizerBytes into an optimizer of the same kind over as many parameters
// of the same shapes, its tensors placed on `device`. c10::Error if they do not fit.
void loadOptimizerBytes(torch::optim::Optimizer& optimizer, const std::string& bytes,
                        c10::Device device);

// Replaces `to`'s state of each of `parameters` by a copy of `from`'s (none where `from` has
// none yet). Both optimizers must be of the same kind.
void copyParameterStates(const torch::optim::Optimizer& from, torch::optim::Optimizer& to,
                         const std::vector<at::Tensor>& parameters);

}  // namespace ringtrain::train
