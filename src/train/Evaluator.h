// Scoring the model on the validation set (after each epoch, or every --val-every steps): every
// validation sample is counted once across the ranks that deal them out (or only the first
// --val-max-batches batches of each rank's share), and the sums are reduced over all ranks, so
// every rank ends with the same loss, accuracy and metrics.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "StepStrategy.h"
#include "data/BatchPrefetcher.h"

namespace ringtrain::train {

struct Evaluation {
  double loss = 0;
  double accuracy = 0;             // meaningful where the objective classifies
  nlohmann::ordered_json metrics;  // TrainHooks' metrics by name, means over the targets
  int64_t targets = 0;  // scored over all ranks: samples, or a language model's positions
};

struct EvaluationInput {
  std::shared_ptr<const data::SampleSource> samples;
  int sharers = 1;     // ranks dealing the samples out between them
  int sharerRank = 0;  // this rank's place among them
  data::PrefetchOptions prefetch;
  int64_t batchSize = 1024;
  int64_t maxBatches = 0;  // per rank; 0: every batch of this rank's share
};

// Collective over `data`. The model must be in evaluation mode.
Evaluation evaluate(StepStrategy& strategy, const EvaluationInput& input,
                    const Objective& objective, comm::Communicator& data, c10::Device device);

}  // namespace ringtrain::train
