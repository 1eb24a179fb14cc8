// The objective of --model autoencoder (Trainer.h): the features are the target.
#include <ATen/ATen.h>

#include "ringtrain/train/Trainer.h"

namespace ringtrain::train {

TrainHooks reconstructionHooks() {
  TrainHooks hooks;
  hooks.target = [](const data::Batch& batch) {
    return batch.features.reshape({batch.features.size(0), -1});
  };
  hooks.loss = [](const at::Tensor& output, const at::Tensor& target) {
    return at::mse_loss(output, target.to(output.scalar_type()));
  };
  hooks.metrics.emplace_back("reconstruction_error",
                             [](const at::Tensor& output, const at::Tensor& target) {
                               return at::mse_loss(output, target, at::Reduction::Sum) /
                                      static_cast<double>(target[0].numel());
                             });
  return hooks;
}

}  // namespace ringtrain::train
