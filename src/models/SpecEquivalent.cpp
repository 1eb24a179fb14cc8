#include "SpecEquivalent.h"

#include <c10/util/accumulate.h>

#include <nlohmann/json.hpp>

#include "Cnn.h"

namespace ringtrain::models {
namespace {

using nlohmann::ordered_json;

// What the dense layers add (DenseLayers.h): Linear and ReLU per hidden width, then the output.
void addDenseLayers(ordered_json& layers, SpecEquivalent& equivalent,
                    const std::vector<int64_t>& hidden, int64_t outputs) {
  for (size_t i = 0; i < hidden.size(); ++i) {
    equivalent.modules.emplace_back("hidden." + std::to_string(i), std::to_string(layers.size()));
    layers.push_back({{"type", "Linear"}, {"out_features", hidden[i]}});
    layers.push_back({{"type", "ReLU"}});
  }
  equivalent.modules.emplace_back("output", std::to_string(layers.size()));
  layers.push_back({{"type", "Linear"}, {"out_features", outputs}});
}

// Cnn.cpp: conv 3x3 + ReLU + 2x2 max pooling (when the image allows it), conv 3x3 + ReLU,
// adaptive average pooling to 4x4, then dense layers.
void addCnnLayers(ordered_json& layers, SpecEquivalent& equivalent, const ModelSpec& spec) {
  const std::vector<int64_t> image = cnnImageShape(spec.inputShape);
  if (spec.inputShape != image) {
    layers.push_back({{"type", "Unflatten"}, {"dim", 1}, {"unflattened_size", image}});
  }
  equivalent.modules.emplace_back("conv1", std::to_string(layers.size()));
  layers.push_back({{"type", "Conv2d"}, {"out_channels", 16}, {"kernel_size", 3}, {"padding", 1}});
  layers.push_back({{"type", "ReLU"}});
  if (image[1] >= 2 && image[2] >= 2) layers.push_back({{"type", "MaxPool2d"}, {"kernel_size", 2}});
  equivalent.modules.emplace_back("conv2", std::to_string(layers.size()));
  layers.push_back({{"type", "Conv2d"}, {"out_channels", 32}, {"kernel_size", 3}, {"padding", 1}});
  layers.push_back({{"type", "ReLU"}});
  layers.push_back({{"type", "AdaptiveAvgPool2d"}, {"output_size", 4}});
  layers.push_back({{"type", "Flatten"}});
  addDenseLayers(layers, equivalent, spec.hidden, spec.numClasses);
}

// Gpt.cpp: token and position embeddings, pre-norm blocks, a final LayerNorm and the head.
void addGptLayers(ordered_json& layers, SpecEquivalent& equivalent, const ModelSpec& spec) {
  const GptShape& shape = spec.gpt;
  equivalent.modules.emplace_back("embedding.tokens", "0");
  layers.push_back(
      {{"type", "Embedding"}, {"num_embeddings", spec.numClasses}, {"embedding_dim", shape.width}});
  equivalent.modules.emplace_back("embedding.positions", "1");
  layers.push_back({{"type", "PositionalEmbedding"}, {"num_positions", spec.inputShape.at(0)}});
  for (int64_t i = 0; i < shape.layers; ++i) {
    equivalent.modules.emplace_back("blocks." + std::to_string(i), std::to_string(layers.size()));
    layers.push_back({{"type", "TransformerBlock"},
                      {"heads", shape.heads},
                      {"mlp_width", 4 * shape.width},
                      {"causal", true}});
  }
  equivalent.modules.emplace_back("head.norm", std::to_string(layers.size()));
  layers.push_back({{"type", "LayerNorm"}, {"normalized_shape", {shape.width}}});
  equivalent.modules.emplace_back("head.output", std::to_string(layers.size()));
  layers.push_back({{"type", "Linear"}, {"out_features", spec.numClasses}});
}

}  // namespace

std::optional<SpecEquivalent> specEquivalentOf(const ModelSpec& spec) {
  SpecEquivalent equivalent;
  ordered_json layers = ordered_json::array();
  switch (spec.kind) {
    case ModelKind::kMlp:
    case ModelKind::kAutoencoder:
      // Mlp.cpp: the input flattened, then dense layers; an autoencoder gives back its input.
      layers.push_back({{"type", "Flatten"}});
      addDenseLayers(
          layers, equivalent, spec.hidden,
          spec.kind == ModelKind::kMlp ? spec.numClasses : c10::multiply_integers(spec.inputShape));
      break;
    case ModelKind::kCnn:
      addCnnLayers(layers, equivalent, spec);
      break;
    case ModelKind::kGpt:
      addGptLayers(layers, equivalent, spec);
      break;
    case ModelKind::kSpec:
    case ModelKind::kCustom:
      return std::nullopt;
  }
  equivalent.network = layers.dump();
  return equivalent;
}

std::optional<std::string> renamed(const SpecEquivalent& equivalent, const std::string& name,
                                   bool toSpec) {
  for (const auto& [builtIn, spec] : equivalent.modules) {
    const std::string& from = toSpec ? builtIn : spec;
    const std::string& to = toSpec ? spec : builtIn;
    if (name.size() > from.size() && name.compare(0, from.size(), from) == 0 &&
        name[from.size()] == '.') {
      return to + name.substr(from.size());
    }
  }
  return std::nullopt;
}

}  // namespace ringtrain::models
