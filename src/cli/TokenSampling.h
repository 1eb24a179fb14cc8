// Choosing a language model's next token from its logits, as `ringtrain generate` does: the most
// likely token at temperature 0, otherwise a draw from softmax(logits / temperature) over the
// top-k tokens. No MPI, no device: the same rule on CPU and GPU logits (copied to the host).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace ringtrain::cli {

struct SamplingOptions {
  double temperature = 0;  // 0: greedy; otherwise > 0
  int64_t topK = 0;        // draw among the k most likely tokens; 0: among all
};

// UserError naming --temperature or --top-k for values out of range.
void checkSamplingOptions(const SamplingOptions& options);

// `logits`: [V], any floating type, any device. Greedy picks the first of equally likely tokens,
// as argmax does. A draw uses `generator` (a CPU generator), so a seed makes it repeatable.
int64_t nextToken(const at::Tensor& logits, const SamplingOptions& options,
                  at::Generator& generator);

}  // namespace ringtrain::cli
