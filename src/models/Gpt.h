// A GPT-style decoder for byte-level token windows: token and position embeddings, pre-norm
// transformer blocks with causal self-attention and a GELU MLP, and a head that predicts, at every
// position of the window, the token that follows it there (the targets token data sets carry: the
// window shifted by one). As layers:
//   embedding          embedding.tokens.weight [vocab, width], embedding.positions.weight
//   blocks.<i>         blocks.<i>.norm1.*, .attention.qkv.* [3 width, width], .attention.proj.*,
//                      .norm2.*, .mlp.fc.* [4 width, width], .mlp.proj.*
//   head               head.norm.*, head.output.* [vocab, width]
#pragma once

#include "ringtrain/models/Model.h"

namespace ringtrain::models {

class Gpt final : public Classifier {
 public:
  Gpt(const GptShape& shape, int64_t context, int64_t vocabulary);
};

}  // namespace ringtrain::models
