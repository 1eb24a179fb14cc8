// A checkpoint's optimizer state, optimizer.safetensors: for each parameter that has state, its
// whole tensors named "<parameter>.<field>" (SGD's momentum_buffer; AdamW's exp_avg, exp_avg_sq
// and step, a 0-dimensional int64), and the optimizer's name in the metadata.
//
// The tensors are the model's logical ones whatever wrote them (one rank, sharded ranks, pipeline
// stages), so a checkpoint resumes at any number of ranks, any --zero and in pipeline mode alike,
// and Python reads it with safetensors.torch.load_file. It is written tensor by tensor: a sharded
// optimizer streams each tensor's pieces to rank 0 from the ranks that own them, and no rank ever
// holds the whole state. A resumed optimizer keeps this run's settings (learning rate, betas,
// weight decay): the file holds state, not settings.
//
// Other optimizers (a library user's: another kind, AdamW with AMSGrad, or one that also updates
// tensors outside the model) keep LibTorch's archive, optimizer.pt, which checkpoints of earlier
// versions hold too.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "ddp/Reducer.h"
#include "io/Safetensors.h"
#include "train/ShardedOptimizerState.h"

namespace ringtrain::train {

inline constexpr const char* kOptimizerStateFile = "optimizer.safetensors";

using io::ByteSink;
// Takes one of the file's tensors at a time, in order.
using TensorSink = std::function<void(const at::Tensor&)>;

// Whether the file can hold `optimizer`'s state: an SGD or AdamW (without AMSGrad) over
// parameters of `model` only, which name its tensors.
bool fitsStateFile(const torch::optim::Optimizer& optimizer, torch::nn::Module& model);

// The file's beginning, for the parameters with state (named, in the order their tensors follow:
// for each, its fields in stateFieldNames' order, then AdamW's step).
std::string stateFileHeader(StateKind kind, const ddp::NamedParameters& stated);
// A tensor's bytes, from wherever it lives.
void writeTensor(const at::Tensor& tensor, const ByteSink& sink);
// AdamW's step, as the file stores it.
at::Tensor stepTensor(int64_t step);

// Those of `parameters` for which `optimizer` (an SGD or AdamW) has state, and that state, tensor
// by tensor in the file's order (for each parameter, its fields, then AdamW's step).
ddp::NamedParameters statedParameters(const torch::optim::Optimizer& optimizer,
                                      const ddp::NamedParameters& parameters);
void emitState(const torch::optim::Optimizer& optimizer, const ddp::NamedParameters& stated,
               const TensorSink& emit);

// The whole file for an optimizer that fitsStateFile, through `sink`.
void streamOptimizerState(const torch::optim::Optimizer& optimizer, torch::nn::Module& model,
                          const ByteSink& sink);

// Reads `bytes` (the file `origin`) into `optimizer`, an SGD or AdamW over `model`'s parameters,
// replacing its state, the tensors on `device`. UserError naming `origin` when the file is of
// another optimizer or does not fit the model, and when `optimizer` is not over the parameters
// the file has state for (a sharded DataParallel's, which restores through the DataParallel).
void loadOptimizerState(torch::optim::Optimizer& optimizer, torch::nn::Module& model,
                        const std::string& bytes, const std::string& origin, c10::Device device);

}  // namespace ringtrain::train
