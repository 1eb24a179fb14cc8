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
// Optimizers other than SGD and AdamW (a library user's) keep LibTorch's archive, optimizer.pt,
// which checkpoints of earlier versions hold too.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "io/Safetensors.h"
#include "train/ShardedOptimizerState.h"

namespace ringtrain::train {

inline constexpr const char* kOptimizerStateFile = "optimizer.safetensors";

// Where a file's bytes go, in order.
using ByteSink = std::function<void(const void* data, size_t size)>;

// The file's tensors for one parameter with state, in the order they are written.
std::vector<io::TensorEntry> stateEntries(StateKind kind, const std::string& parameter,
                                          const at::Tensor& like);
// The file's beginning, for `entries` (stateEntries of each parameter with state, in turn).
std::string stateFileHeader(StateKind kind, const std::vector<io::TensorEntry>& entries);
// AdamW's step, as the file stores it.
at::Tensor stepTensor(int64_t step);

// Writes the state `optimizer` (of SGD or AdamW) holds for `model`'s parameters through `sink`.
void writeOptimizerState(const torch::optim::Optimizer& optimizer, torch::nn::Module& model,
                         const ByteSink& sink);

// Reads `bytes` (the file `origin`) into `optimizer`, an SGD or AdamW over `model`'s parameters,
// replacing its state, the tensors on `device`. UserError naming `origin` when the file is of
// another optimizer or does not fit the model.
void loadOptimizerState(torch::optim::Optimizer& optimizer, torch::nn::Module& model,
                        const std::string& bytes, const std::string& origin, c10::Device device);

}  // namespace ringtrain::train
