#include "TokenSampling.h"

#include <ATen/ATen.h>

#include <cmath>

#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

void checkSamplingOptions(const SamplingOptions& options) {
  RINGTRAIN_USER_CHECK(options.temperature >= 0 && std::isfinite(options.temperature),
                       "--temperature must be 0 (greedy) or positive, got " << options.temperature);
  RINGTRAIN_USER_CHECK(options.topK >= 0,
                       "--top-k must be 0 (all tokens) or positive, got " << options.topK);
}

int64_t nextToken(const at::Tensor& logits, const SamplingOptions& options,
                  at::Generator& generator) {
  const at::Tensor scores = logits.detach().to(at::kCPU, at::kDouble).reshape(-1);
  if (options.temperature == 0) return scores.argmax().item<int64_t>();
  // Relative to the largest, so that a tiny temperature cannot overflow.
  at::Tensor scaled = (scores - scores.max()) / options.temperature;
  if (options.topK > 0 && options.topK < scaled.numel()) {
    // Ties with the k-th score stay in, so the choice does not depend on their order.
    const double kth = std::get<0>(scaled.topk(options.topK)).min().item<double>();
    scaled = scaled.masked_fill(scaled < kth, -INFINITY);
  }
  const at::Tensor probabilities = at::softmax(scaled, 0);
  return at::multinomial(probabilities, 1, /*replacement=*/false, generator).item<int64_t>();
}

}  // namespace ringtrain::cli
