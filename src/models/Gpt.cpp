#include "Gpt.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "TransformerBlock.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::models {
namespace {

struct Embedding : torch::nn::Module {
  Embedding(int64_t vocabulary, int64_t context, int64_t width)
      : vocabulary(vocabulary),
        tokens(register_module("tokens", torch::nn::Embedding(vocabulary, width))),
        positions(register_module("positions", torch::nn::Embedding(context, width))) {}
  // x: [batch, context] token ids (any numeric type) -> [batch, context, width]
  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor ids = x.to(at::kLong);
    // On GPUs the embedding's own device-side check stops the job, without a host sync per step.
    if (!ids.is_cuda() && ids.numel() > 0) {
      const int64_t lowest = ids.min().item<int64_t>();
      const int64_t highest = ids.max().item<int64_t>();
      RINGTRAIN_USER_CHECK(lowest >= 0 && highest < vocabulary,
                           "--model gpt: token id " << (lowest < 0 ? lowest : highest)
                                                    << " is outside the vocabulary of "
                                                    << vocabulary
                                                    << ": the data is not a token data set "
                                                       "(prepare text with ringtrain prep)");
    }
    const at::Tensor where = at::arange(ids.size(1), ids.options());
    return tokens->forward(ids) + positions->forward(where).unsqueeze(0);
  }
  int64_t vocabulary;
  torch::nn::Embedding tokens{nullptr};
  torch::nn::Embedding positions{nullptr};
};

torch::nn::LayerNorm layerNorm(int64_t width) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}));
}

struct Head : torch::nn::Module {
  Head(int64_t width, int64_t vocabulary)
      : norm(register_module("norm", layerNorm(width))),
        output(register_module("output", torch::nn::Linear(width, vocabulary))) {}
  // [batch, context, width] -> [batch, context, vocabulary]: each position predicts the next token.
  at::Tensor forward(const at::Tensor& x) { return output->forward(norm->forward(x)); }
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear output{nullptr};
};

}  // namespace

Gpt::Gpt(const GptShape& shape, int64_t context, int64_t vocabulary) {
  predictEveryPosition();
  auto embedding =
      register_module("embedding", std::make_shared<Embedding>(vocabulary, context, shape.width));
  addLayer(
      {"embedding", embedding, [embedding](const at::Tensor& x) { return embedding->forward(x); }});
  torch::nn::ModuleList blocks;
  for (int64_t i = 0; i < shape.layers; ++i) {
    auto block = std::make_shared<TransformerBlock>(
        TransformerBlockShape{shape.width, shape.heads, 4 * shape.width, /*causal=*/true});
    blocks->push_back(block);
    addLayer({"blocks." + std::to_string(i), block,
              [block](const at::Tensor& x) { return block->forward(x); }});
  }
  register_module("blocks", blocks);
  auto head = register_module("head", std::make_shared<Head>(shape.width, vocabulary));
  addLayer({"head", head, [head](const at::Tensor& x) { return head->forward(x); }});
}

}  // namespace ringtrain::models
