#include "Objective.h"

#include <ATen/ATen.h>

#include "data/SampleSource.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::train {

data::Batch Objective::withTargets(data::Batch batch) const {
  if (hooks_->target) {
    batch.labels = hooks_->target(batch);
  } else {
    batch.labels = targetsOf(batch.labels);
  }
  return batch;
}

at::Tensor Objective::targetsOf(const at::Tensor& labels) const {
  return everyPosition_ ? labels : data::perSampleLabels(labels);
}

void Objective::checkOutput(const at::Tensor& output, const at::Tensor& targets) const {
  if (!everyPosition_ || hooks_->target) return;
  RINGTRAIN_USER_CHECK(output.dim() == 3 && targets.dim() == 2 &&
                           output.size(0) == targets.size(0) && output.size(1) == targets.size(1),
                       "the model predicts every position of a token window, so its output must "
                       "be [batch, L, classes] against targets [batch, L]; it gave "
                           << output.sizes() << " against " << targets.sizes());
}

at::Tensor Objective::meanLoss(const at::Tensor& output, const at::Tensor& targets) const {
  checkOutput(output, targets);
  if (hooks_->loss) return hooks_->loss(output.to(at::kFloat), targets);
  if (!everyPosition_) return at::cross_entropy_loss(output.to(at::kFloat), targets);
  return at::cross_entropy_loss(output.to(at::kFloat).reshape({-1, output.size(-1)}),
                                targets.reshape({-1}));
}

at::Tensor Objective::lossSum(const at::Tensor& output, const at::Tensor& targets) const {
  checkOutput(output, targets);
  if (hooks_->loss) {
    return hooks_->loss(output.to(at::kFloat), targets) * static_cast<double>(units(targets));
  }
  return at::cross_entropy_loss(output.to(at::kFloat).reshape({-1, output.size(-1)}),
                                targets.reshape({-1}), {}, at::Reduction::Sum);
}

int64_t Objective::units(const at::Tensor& targets) const {
  // A target hook's targets (an autoencoder's features) are one per sample, whatever their shape.
  const bool positions = everyPosition_ && !hooks_->target && targets.dim() == 2;
  return positions ? targets.size(0) * targets.size(1) : targets.size(0);
}

at::Tensor Objective::correct(const at::Tensor& output, const at::Tensor& targets) const {
  return output.argmax(-1).eq(targets).sum();
}

}  // namespace ringtrain::train
