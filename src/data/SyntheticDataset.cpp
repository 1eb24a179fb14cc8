#include "data/SyntheticDataset.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ringtrain/util/Error.h"

namespace ringtrain::data {
namespace {

constexpr int64_t kTeacherHidden = 32;
// Candidates are drawn in fixed-size blocks: memory stays bounded for any data set size, and a
// smaller set is a prefix of a larger one with the same seed.
constexpr int64_t kRowsPerDraw = 8192;
// About a quarter of the draws clear this gap between the two largest (unit-scale) logits.
constexpr double kLogitMargin = 0.5;
// Offsets that give the teacher and each split's inputs their own random streams.
constexpr uint64_t kTeacherStream = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kTrainStream = 1;
constexpr uint64_t kValidationStream = 2;

at::Generator generatorFor(uint64_t seed, uint64_t stream) {
  return at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + stream);
}

}  // namespace

Dataset makeSynthetic(const SyntheticSpec& spec, uint64_t seed, Split split) {
  RINGTRAIN_USER_CHECK(spec.size > 0, "synthetic data set size must be positive");
  RINGTRAIN_USER_CHECK(spec.dim > 0, "synthetic input dimension must be positive");
  RINGTRAIN_USER_CHECK(spec.classes >= 2, "synthetic data needs at least 2 classes");

  at::Generator teacher = generatorFor(seed, kTeacherStream);
  const at::Tensor hiddenWeights =
      at::randn({spec.dim, kTeacherHidden}, teacher, at::kFloat) / std::sqrt(double(spec.dim));
  const at::Tensor outputWeights = at::randn({kTeacherHidden, spec.classes}, teacher, at::kFloat) /
                                   std::sqrt(double(kTeacherHidden));

  at::Generator inputs =
      generatorFor(seed, split == Split::kTrain ? kTrainStream : kValidationStream);
  std::vector<at::Tensor> features;
  std::vector<at::Tensor> labels;
  int64_t kept = 0;
  while (kept < spec.size) {
    const at::Tensor x = at::randn({kRowsPerDraw, spec.dim}, inputs, at::kFloat);
    const at::Tensor logits = at::tanh(x.matmul(hiddenWeights)).matmul(outputWeights);
    const auto [top, topClasses] = logits.topk(2, 1);
    const at::Tensor clear =
        (top.select(1, 0) - top.select(1, 1)).gt(kLogitMargin).nonzero().squeeze(1);
    const at::Tensor rows = clear.slice(0, 0, spec.size - kept);
    features.push_back(x.index_select(0, rows));
    labels.push_back(topClasses.select(1, 0).index_select(0, rows));
    kept += rows.size(0);
  }
  Dataset dataset;
  dataset.features = at::cat(features);
  dataset.labels = at::cat(labels);
  dataset.numClasses = spec.classes;
  dataset.source = "synthetic:" + std::to_string(spec.size);
  return dataset;
}

}  // namespace ringtrain::data
