// The built-in classifiers. Their parameter names, which checkpoints and --init-from files use
// (model.safetensors names them as the equivalent --model-spec network does, as
// src/models/SpecEquivalent.h says):
//   mlp: hidden.<i>.weight [out, in], hidden.<i>.bias [out], output.weight, output.bias
//   cnn: conv1.weight [16, C, 3, 3], conv1.bias, conv2.weight [32, 16, 3, 3], conv2.bias,
//        then the same hidden.<i>.* and output.* as the MLP on the 32x4x4 pooled features
//   gpt: embedding.*, blocks.<i>.*, head.* (see src/models/Gpt.h), for token windows
//   spec: <i>.* for the i-th layer of a --model-spec network, as PyTorch's nn.Sequential names
//         them (see src/models/SpecNetwork.h and docs/your-own-model.md)
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ringtrain/Export.h"

namespace ringtrain::models {

// The transformer's size (--model gpt).
struct GptShape {
  int64_t layers = 4;  // transformer blocks
  int64_t width = 128;
  int64_t heads = 4;
};

// What a ModelSpec describes: a built-in model (--model), a --model-spec network, or a program's
// own (TrainHooks::makeModel), which only that program can rebuild.
enum class ModelKind { kMlp, kCnn, kGpt, kAutoencoder, kSpec, kCustom };
// "mlp", "cnn", "gpt", "autoencoder", "spec", "custom": as --model, logs and model files say.
RINGTRAIN_API const std::string& modelKindName(ModelKind kind);

struct ModelSpec {
  ModelKind kind = ModelKind::kMlp;
  // mlp, cnn: hidden widths; autoencoder: every hidden width, encoder, code and decoder.
  std::vector<int64_t> hidden{512, 256};
  std::vector<int64_t> inputShape;  // one sample, e.g. {64} or {1, 28, 28}
  int64_t numClasses = 0;
  GptShape gpt;  // gpt
  // spec: the network's JSON text (a --model-spec file), and where it came from, for messages.
  std::string network;
  std::string networkSource;
};

// kind "spec" with the JSON of `path`; UserError naming the file when it cannot be read. The JSON
// itself is checked when the model is made.
RINGTRAIN_API ModelSpec modelSpecFromFile(const std::string& path);

// One step of a model seen as a sequence, the unit pipeline stages are made of: the name its
// parameters carry in the whole model (its module's "weight" is "<name>.weight"), the module that
// holds them (null for a step without parameters), and what it computes from the previous step's
// output.
struct Layer {
  std::string name;
  std::shared_ptr<torch::nn::Module> module;
  std::function<at::Tensor(const at::Tensor&)> forward;
};

class RINGTRAIN_API Classifier : public torch::nn::Module {
 public:
  // x: [batch, ...inputShape] -> logits [batch, numClasses], or [batch, L, numClasses] for a
  // model that predicts every position of an input window of L tokens; the layers applied in order.
  at::Tensor forward(const at::Tensor& x);
  // The model as a sequence of layers, first to last.
  const std::vector<Layer>& layers() const { return layers_; }
  // Whether forward() gives a prediction for every position of a token window, trained against
  // the window shifted by one (a causal language model), rather than one per sample.
  bool predictsEveryPosition() const { return everyPosition_; }

 protected:
  void addLayer(Layer layer) { layers_.push_back(std::move(layer)); }
  // Called by a model whose output is [batch, L, numClasses].
  void predictEveryPosition() { everyPosition_ = true; }

 private:
  std::vector<Layer> layers_;
  bool everyPosition_ = false;
};

// Throws UserError if the input shape does not suit the model kind, or a spec network is
// malformed (naming the file and the layer).
RINGTRAIN_API std::shared_ptr<Classifier> makeModel(const ModelSpec& spec);

// "512,256" -> {512, 256}; "" -> {}. UserError naming --hidden on bad input.
RINGTRAIN_API std::vector<int64_t> parseLayerSizes(const std::string& text);

}  // namespace ringtrain::models
