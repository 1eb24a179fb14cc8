// What a checkpoint holds besides the trainer's position: the model's parameters and buffers
// (model.safetensors), the optimizer's state in LibTorch's own format (optimizer.pt) and the CPU
// random generator (rng.bin), as bytes for checkpoint::writeCheckpoint.
#pragma once

#include <torch/optim/optimizer.h>

#include <optional>
#include <string>

#include "checkpoint/CheckpointStore.h"
#include "ringtrain/models/Model.h"

namespace ringtrain::train {

checkpoint::NamedBlobs snapshotTraining(torch::nn::Module& model,
                                        torch::optim::Optimizer& optimizer);

// Puts the snapshot back into a model and optimizer built with the same configuration, the
// optimizer's state on `optimizerDevice` (default: that of the model's first parameter). UserError
// naming `origin` (the checkpoint's path) if a file is missing or does not fit the model.
void restoreTraining(const checkpoint::NamedBlobs& files, const std::string& origin,
                     torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     std::optional<c10::Device> optimizerDevice = std::nullopt);

}  // namespace ringtrain::train
