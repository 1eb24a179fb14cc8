#pragma once

#include <ATen/core/Tensor.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "ringtrain/data/Dataset.h"
#include "ringtrain/train/Trainer.h"

namespace ringtrain::train {

// What the loss compares the model's output with, and how: TrainHooks' target and loss, or the
// labels and cross-entropy. Training and evaluation share it.
//
// The targets are counted in units: samples, or for a model that predicts every position of a
// token window (output [n, L, C], labels [n, L]) positions, so that the loss is the mean over all
// positions of the batch, as PyTorch's cross_entropy(logits.view(-1, C), targets.view(-1)).
class Objective {
 public:
  explicit Objective(const TrainHooks& hooks, bool everyPosition = false)
      : hooks_(&hooks), everyPosition_(everyPosition) {}
  // Accuracy means something only where the targets are class labels.
  bool classifies() const { return !hooks_->target; }
  bool everyPosition() const { return everyPosition_; }
  // The batch with the labels the loss compares with: the hook's target, every position's next
  // token, or one class id per sample (for token windows, the token after the window).
  data::Batch withTargets(data::Batch batch) const;
  // The same for a batch's labels, without a target hook.
  at::Tensor targetsOf(const at::Tensor& labels) const;
  // The mean loss over the targets' units, and their sum.
  at::Tensor meanLoss(const at::Tensor& output, const at::Tensor& targets) const;
  at::Tensor lossSum(const at::Tensor& output, const at::Tensor& targets) const;
  // How many units `targets` holds.
  int64_t units(const at::Tensor& targets) const;
  // How many units the output's most likely class gets right (a tensor on the output's device).
  at::Tensor correct(const at::Tensor& output, const at::Tensor& targets) const;
  const std::vector<std::pair<std::string, MetricSum>>& metrics() const { return hooks_->metrics; }

 private:
  void checkOutput(const at::Tensor& output, const at::Tensor& targets) const;

  const TrainHooks* hooks_;
  bool everyPosition_;
};

// A mean next-token cross-entropy (nats per token) as perplexity, and in bits per token.
inline double perplexityOf(double meanLoss) {
  return std::exp(meanLoss);
}
inline double bitsPerTokenOf(double meanLoss) {
  return meanLoss / std::log(2.0);
}

}  // namespace ringtrain::train
