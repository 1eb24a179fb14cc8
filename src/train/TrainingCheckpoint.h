// What a checkpoint holds besides the trainer's position: the model's parameters and buffers
// (model.safetensors), the optimizer's state (optimizer.safetensors, OptimizerStateFile.h; or
// LibTorch's archive optimizer.pt for optimizers that file cannot hold) and the CPU random
// generator (rng.bin). Written into a checkpoint::CheckpointWriter one tensor at a time, but for
// optimizer.pt.
#pragma once

#include <torch/optim/optimizer.h>

#include <functional>
#include <optional>
#include <string>

#include "checkpoint/CheckpointStore.h"
#include "ringtrain/models/Model.h"
#include "train/OptimizerStateFile.h"

namespace ringtrain::train {

// Writes the files of a checkpoint of `model` into `writer`, the optimizer's state file with
// `writeOptimizerState(sink)`, where it may come piece by piece from other ranks.
void writeTraining(checkpoint::CheckpointWriter& writer, torch::nn::Module& model,
                   const std::function<void(const ByteSink&)>& writeOptimizerState);
// The same for an optimizer held whole, of any kind.
void writeTraining(checkpoint::CheckpointWriter& writer, torch::nn::Module& model,
                   torch::optim::Optimizer& optimizer);

// Puts the snapshot back into a model and optimizer built with the same configuration, the
// optimizer's state on `optimizerDevice` (default: that of the model's first parameter). UserError
// naming `origin` (the checkpoint's path) if a file is missing or does not fit the model.
void restoreTraining(const checkpoint::NamedBlobs& files, const std::string& origin,
                     torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     std::optional<c10::Device> optimizerDevice = std::nullopt);

}  // namespace ringtrain::train
