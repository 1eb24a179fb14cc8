#include "Evaluator.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "ringtrain/data/DistributedSampler.h"

namespace ringtrain::train {

Evaluation evaluate(StepStrategy& strategy, const EvaluationInput& input,
                    const Objective& objective, comm::Communicator& data, c10::Device device) {
  c10::NoGradGuard noGrad;
  std::vector<int64_t> rows =
      data::evaluationIndices(input.samples->size(), input.sharers, input.sharerRank);
  // The first batches of this rank's share: the same rows at every validation.
  const auto wholeBatches = static_cast<int64_t>(rows.size()) / input.batchSize;
  if (input.maxBatches > 0 && input.maxBatches < wholeBatches)
    rows.resize(static_cast<size_t>(input.maxBatches * input.batchSize));
  data::BatchPrefetcher batches(input.samples, std::move(rows), input.batchSize, input.prefetch);
  // [loss sum, correct, count, each metric's sum], summed over ranks.
  const auto metrics = static_cast<int64_t>(objective.metrics().size());
  at::Tensor totals =
      at::zeros({3 + metrics}, at::TensorOptions().device(device).dtype(at::kDouble));
  for (int64_t b = 0; b < batches.batches(); ++b) {
    const data::Batch batch = objective.withTargets(batches.next());
    at::Tensor logits = strategy.evaluate(batch);
    if (!logits.defined()) continue;
    logits = logits.to(at::kFloat);
    const at::Tensor labels = batch.labels.to(device, batch.features.is_pinned());
    totals[0] += objective.lossSum(logits, labels);
    if (objective.classifies()) totals[1] += objective.correct(logits, labels);
    totals[2] += static_cast<double>(objective.units(labels));
    for (int64_t m = 0; m < metrics; ++m) {
      totals[3 + m] += objective.metrics()[static_cast<size_t>(m)].second(logits, labels);
    }
  }
  data.allReduce(totals, comm::ReduceOp::kSum);
  const at::Tensor host = totals.cpu();
  const double count = host[2].item<double>();
  Evaluation evaluation;
  evaluation.targets = static_cast<int64_t>(count);
  evaluation.loss = host[0].item<double>() / count;
  evaluation.accuracy = host[1].item<double>() / count;
  evaluation.metrics = nlohmann::ordered_json::object();
  for (int64_t m = 0; m < metrics; ++m) {
    evaluation.metrics[objective.metrics()[static_cast<size_t>(m)].first] =
        host[3 + m].item<double>() / count;
  }
  return evaluation;
}

}  // namespace ringtrain::train
