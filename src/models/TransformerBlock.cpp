#include "TransformerBlock.h"

#include <ATen/ATen.h>

namespace ringtrain::models {
namespace {

torch::nn::LayerNorm layerNorm(int64_t width) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}));
}

}  // namespace

SelfAttention::SelfAttention(int64_t width, int64_t heads, bool causal)
    : heads_(heads),
      causal_(causal),
      qkv_(register_module("qkv", torch::nn::Linear(width, 3 * width))),
      proj_(register_module("proj", torch::nn::Linear(width, width))) {}

at::Tensor SelfAttention::forward(const at::Tensor& x) {
  const int64_t batch = x.size(0), length = x.size(1), width = x.size(2);
  // [batch, length, 3, heads, head width] -> three of [batch, heads, length, head width]
  const auto parts =
      qkv_->forward(x).view({batch, length, 3, heads_, width / heads_}).permute({2, 0, 3, 1, 4});
  const at::Tensor attended = at::scaled_dot_product_attention(
      parts[0], parts[1], parts[2], /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/causal_);
  return proj_->forward(attended.transpose(1, 2).reshape({batch, length, width}));
}

FeedForward::FeedForward(int64_t width, int64_t hidden)
    : fc_(register_module("fc", torch::nn::Linear(width, hidden))),
      proj_(register_module("proj", torch::nn::Linear(hidden, width))) {}

at::Tensor FeedForward::forward(const at::Tensor& x) {
  return proj_->forward(at::gelu(fc_->forward(x)));
}

TransformerBlock::TransformerBlock(const TransformerBlockShape& shape)
    : norm1_(register_module("norm1", layerNorm(shape.width))),
      attention_(register_module(
          "attention", std::make_shared<SelfAttention>(shape.width, shape.heads, shape.causal))),
      norm2_(register_module("norm2", layerNorm(shape.width))),
      mlp_(register_module("mlp", std::make_shared<FeedForward>(shape.width, shape.mlpWidth))) {}

at::Tensor TransformerBlock::forward(const at::Tensor& x) {
  const at::Tensor y = x + attention_->forward(norm1_->forward(x));
  return y + mlp_->forward(norm2_->forward(y));
}

}  // namespace ringtrain::models
