// A pre-norm transformer block: x + attention(norm1(x)), then y + mlp(norm2(y)), with multi-head
// self-attention and a GELU MLP. Used by the GPT and by --model-spec's TransformerBlock. Names:
//   norm1.*, attention.qkv.* [3 width, width], attention.proj.*, norm2.*, mlp.fc.* [mlp, width],
//   mlp.proj.* [width, mlp]
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <memory>

namespace ringtrain::models {

struct TransformerBlockShape {
  int64_t width = 0;
  int64_t heads = 1;     // dividing width
  int64_t mlpWidth = 0;  // the MLP's hidden width
  bool causal = true;    // position i attends to positions up to i only
};

class SelfAttention : public torch::nn::Module {
 public:
  SelfAttention(int64_t width, int64_t heads, bool causal);
  // [batch, length, width] -> the same
  at::Tensor forward(const at::Tensor& x);

 private:
  int64_t heads_;
  bool causal_;
  torch::nn::Linear qkv_{nullptr};
  torch::nn::Linear proj_{nullptr};
};

class FeedForward : public torch::nn::Module {
 public:
  FeedForward(int64_t width, int64_t hidden);
  at::Tensor forward(const at::Tensor& x);

 private:
  torch::nn::Linear fc_{nullptr};
  torch::nn::Linear proj_{nullptr};
};

class TransformerBlock : public torch::nn::Module {
 public:
  explicit TransformerBlock(const TransformerBlockShape& shape);
  // [batch, length, width] -> the same
  at::Tensor forward(const at::Tensor& x);

 private:
  torch::nn::LayerNorm norm1_{nullptr};
  std::shared_ptr<SelfAttention> attention_;
  torch::nn::LayerNorm norm2_{nullptr};
  std::shared_ptr<FeedForward> mlp_;
};

}  // namespace ringtrain::models
