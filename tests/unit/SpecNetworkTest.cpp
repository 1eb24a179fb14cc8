// --model-spec networks: shapes worked out layer by layer, the same initial values as the built-in
// models they describe, errors that name the layer, and model files that rebuild them.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "io/Safetensors.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/util/Error.h"
#include "train/ModelFile.h"

namespace ringtrain::models {
namespace {

ModelSpec specFrom(const std::string& json, std::vector<int64_t> inputShape, int64_t classes) {
  ModelSpec spec;
  spec.kind = ModelKind::kSpec;
  spec.network = json;
  spec.networkSource = "net.json";
  spec.inputShape = std::move(inputShape);
  spec.numClasses = classes;
  return spec;
}

std::string errorOf(const std::string& json, std::vector<int64_t> inputShape, int64_t classes) {
  try {
    makeModel(specFrom(json, std::move(inputShape), classes));
  } catch (const UserError& error) {
    return error.what();
  }
  return "no error";
}

TEST(SpecNetwork, MlpSpecStartsFromTheBuiltInMlpsValues) {
  at::manual_seed(11);
  ModelSpec builtIn;
  builtIn.hidden = {9, 7};
  builtIn.inputShape = {2, 3};
  builtIn.numClasses = 4;
  const auto reference = makeModel(builtIn);
  at::manual_seed(11);
  const auto described = makeModel(specFrom(
      R"([{"type": "Flatten"}, {"type": "Linear", "out_features": 9}, {"type": "ReLU"},
          {"type": "Linear", "in_features": 9, "out_features": 7}, {"type": "ReLU"},
          {"type": "Linear", "out_features": 4}])",
      {2, 3}, 4));
  const auto mine = described->named_parameters();
  const auto theirs = reference->named_parameters();
  ASSERT_EQ(mine.size(), theirs.size());
  const std::vector<std::string> names{"1.weight", "1.bias",   "3.weight",
                                       "3.bias",   "5.weight", "5.bias"};
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_EQ(mine[i].key(), names[i]);
    EXPECT_TRUE(at::equal(mine[i].value(), theirs[i].value())) << names[i];
  }
  const at::Tensor x = at::randn({5, 2, 3});
  EXPECT_TRUE(at::equal(described->forward(x), reference->forward(x)));
  // Pipeline units: each layer with parameters, the activations and Flatten riding along.
  EXPECT_EQ(described->layers().size(), 3u);
}

TEST(SpecNetwork, ShapesFlowThroughImageAndSequenceLayers) {
  const auto cnn = makeModel(specFrom(
      R"({"input_shape": [3, 11, 9], "layers": [
          {"type": "Conv2d", "out_channels": 4, "kernel_size": [3, 2], "stride": 2, "padding": 1},
          {"type": "BatchNorm2d"}, {"type": "MaxPool2d", "kernel_size": 2},
          {"type": "AdaptiveAvgPool2d", "output_size": [2, 3]}, {"type": "Flatten"},
          {"type": "Dropout"}, {"type": "Linear", "out_features": 5}]})",
      {3, 11, 9}, 5));
  cnn->eval();
  EXPECT_EQ(cnn->forward(at::randn({2, 3, 11, 9})).sizes().vec(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(cnn->named_buffers().size(), 3u);  // running mean, var and the batch count

  const auto gpt = makeModel(specFrom(
      R"([{"type": "Embedding", "num_embeddings": 13, "embedding_dim": 8},
          {"type": "PositionalEmbedding", "num_positions": 10},
          {"type": "TransformerBlock", "heads": 2, "mlp_width": 12, "causal": false},
          {"type": "LayerNorm", "normalized_shape": [8]}, {"type": "GELU", "approximate": "tanh"},
          {"type": "SelectToken", "index": 0}, {"type": "Linear", "out_features": 13}])",
      {6}, 13));
  const at::Tensor tokens = at::randint(0, 13, {3, 6}).to(at::kFloat);
  EXPECT_EQ(gpt->forward(tokens).sizes().vec(), (std::vector<int64_t>{3, 13}));
  const auto parameters = gpt->named_parameters();
  EXPECT_TRUE(parameters.contains("2.attention.qkv.weight"));
  EXPECT_EQ(parameters["2.mlp.fc.weight"].sizes().vec(), (std::vector<int64_t>{12, 8}));
  EXPECT_EQ(parameters["1.weight"].sizes().vec(), (std::vector<int64_t>{10, 8}));
  EXPECT_THROW(gpt->forward(at::full({1, 6}, 13.0)), UserError);  // outside num_embeddings
  EXPECT_FALSE(gpt->predictsEveryPosition());
}

// Without SelectToken a window of L tokens gives [L, classes]: a prediction at every position.
TEST(SpecNetwork, ASequenceOutputPredictsEveryPosition) {
  const std::string layers =
      R"([{"type": "Embedding", "num_embeddings": 13, "embedding_dim": 8},
          {"type": "TransformerBlock", "heads": 2, "causal": true},
          {"type": "Linear", "out_features": 13}])";
  const auto language = makeModel(specFrom(layers, {6}, 13));
  EXPECT_TRUE(language->predictsEveryPosition());
  const at::Tensor tokens = at::randint(0, 13, {3, 6}).to(at::kFloat);
  EXPECT_EQ(language->forward(tokens).sizes().vec(), (std::vector<int64_t>{3, 6, 13}));
  // [L, C] is a sequence only for a window of L tokens; the classes must still match.
  EXPECT_NE(errorOf(layers, {6}, 12)
                .find("the network's output is [6, 13] per sample but the "
                      "data has 12 classes: the last layer must give [12], or [6, 12] for a "
                      "prediction at every position of a token window"),
            std::string::npos);
  const std::string images = R"([{"type": "Flatten"}, {"type": "Linear", "out_features": 4},
                                 {"type": "Unflatten", "unflattened_size": [1, 4]}])";
  EXPECT_NE(errorOf(images, {1, 2, 2}, 4).find("the last layer must give [4]"), std::string::npos)
      << errorOf(images, {1, 2, 2}, 4);
}

TEST(SpecNetwork, ErrorsNameTheFileAndTheLayer) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"([{"type": "Conv2d", "out_channels": 2, "kernel_size": 5}])",
       "net.json: layer 0 (Conv2d): kernel 5 does not fit its input [1, 4, 4]"},
      {R"([{"type": "Flatten"}, {"type": "Linear", "out_features": 3}, {"type": "Unflatten",
           "unflattened_size": [2, 2]}])",
       "layer 2 (Unflatten): unflattened_size [2, 2] holds 4 values but dimension 1"},
      {R"([{"type": "Flatten"}, {"type": "TransformerBlock", "heads": 2}])",
       "layer 1 (TransformerBlock): needs a [length, width] input per sample, got [16]"},
      {R"([{"type": "Conv2d", "out_channels": 3, "kernel_size": 1, "name": "stem"},
           {"type": "BatchNorm2d", "num_features": 4}])",
       "layer 1 (BatchNorm2d): num_features is 4 but its input [3, 4, 4] has 3"},
      {R"({"layers": [], "input_shape": [1, 4, 4]})", "net.json: the list of layers is empty"},
      {R"({"layer": []})", "net.json: unknown key \"layer\""},
      {R"({"input_shape": [16], "layers": [{"type": "Flatten"}]})",
       "\"input_shape\" is [16] but the data's samples are [1, 4, 4]"},
      {R"([{"type": "Linear", "out_features": 0}])",
       "layer 0 (Linear): \"out_features\" must be an integer from 1 to 2147483647, got 0"},
      {R"([{"type": "GELU", "approximate": "fast"}])",
       "layer 0 (GELU): \"approximate\" must be one of none, tanh, got \"fast\""},
      {R"([{"type": "Linear", "out_features": 99999999999}])",
       "layer 0 (Linear): \"out_features\" must be an integer from 1 to 2147483647"},
      {R"([{"type": "AdaptiveAvgPool2d", "output_size": [2147483647, 2147483647]},
           {"type": "Flatten"}, {"type": "Linear", "out_features": 3}])",
       "layer 2 (Linear): cannot be built"},
      {R"([{"type": "Flatten"}, {"type": "Dropout"}, {"type": "Unflatten",
           "unflattened_size": [3]}])",
       "layer 2 (Unflatten): unflattened_size [3] holds 3 values but dimension 1"},
      {R"([7])", "layer 0 must be an object with a \"type\", got 7"},
      {"[{\"type\": \"Flatten\"}\n  {\"type\": \"ReLU\"}]", "net.json: not valid JSON at line 2"},
  };
  EXPECT_NE(errorOf(R"([{"type": "Flatten"}, {"type": "ReLU"}])", {1, 4, 4}, 16)
                .find("net.json: the network has no parameters to train"),
            std::string::npos);
  for (const auto& [json, expected] : cases) {
    EXPECT_NE(errorOf(json, {1, 4, 4}, 3).find(expected), std::string::npos)
        << json << "\n -> " << errorOf(json, {1, 4, 4}, 3);
  }
}

TEST(SpecNetwork, ModelFileRebuildsTheNetworkWithBuffersAndStandardization) {
  const ModelSpec spec = specFrom(
      R"([{"type": "Linear", "out_features": 6}, {"type": "BatchNorm1d", "momentum": 0.5},
          {"type": "Tanh"}, {"type": "Linear", "out_features": 3}])",
      {4}, 3);
  const auto model = makeModel(spec);
  model->train();
  model->forward(at::randn({16, 4}) * 3 + 1);  // moves the running statistics
  model->eval();
  const data::FeatureStatistics statistics{{1, 2, 3, 4}, {0.5, 1, 2, 1}};
  const std::string path = testing::TempDir() + "spec-model-" + std::to_string(::getpid());
  train::saveModel(path, *model, spec, statistics);
  const train::SavedModel saved = train::loadSavedModel(path);
  std::remove(path.c_str());
  EXPECT_EQ(saved.spec.kind, ModelKind::kSpec);
  EXPECT_EQ(saved.spec.inputShape, spec.inputShape);
  ASSERT_TRUE(saved.standardization.has_value());
  EXPECT_EQ(saved.standardization->mean, statistics.mean);
  EXPECT_EQ(saved.standardization->scale, statistics.scale);
  saved.model->eval();
  const at::Tensor x = at::randn({5, 4});
  EXPECT_TRUE(at::equal(saved.model->forward(x), model->forward(x)));
  EXPECT_TRUE(at::equal(saved.model->named_buffers()["1.running_var"],
                        model->named_buffers()["1.running_var"]));
}

TEST(SpecNetwork, AModelFileOfAnEarlierVersionIsStandardisedAsItWasTrained) {
  const ModelSpec spec = specFrom(R"([{"type": "Linear", "out_features": 3}])", {3}, 3);
  const auto model = makeModel(spec);
  const std::string path = testing::TempDir() + "legacy-model-" + std::to_string(::getpid());
  train::saveModel(path, *model, spec, data::FeatureStatistics{{1, 2, 3}, {0.5, 1, 1}});
  // As an earlier version wrote it: the standard deviation (0 for a constant feature), no marker.
  io::Metadata metadata;
  io::NamedTensors tensors = io::loadSafetensors(path, &metadata);
  for (auto& [name, tensor] : tensors) {
    if (name == "input_standardization.std") tensor = at::tensor({0.5f, 1e-8f, 0.0f});
  }
  ASSERT_EQ(metadata.erase("input_standardization"), 1u);
  io::saveSafetensors(path, tensors, metadata);
  const train::SavedModel legacy = train::loadSavedModel(path);
  ASSERT_TRUE(legacy.standardization.has_value());
  EXPECT_EQ(legacy.standardization->scale.size(), 3u);
  EXPECT_DOUBLE_EQ(legacy.standardization->scale[0], 0.5);
  EXPECT_DOUBLE_EQ(legacy.standardization->scale[1], 1e-6);
  EXPECT_DOUBLE_EQ(legacy.standardization->scale[2], 1e-6);
  // A current file's scale is used as it is, however small, and is never zero.
  metadata["input_standardization"] = "scale";
  for (auto& [name, tensor] : tensors) {
    if (name == "input_standardization.std") tensor = at::tensor({0.5f, 1e-8f, 1.0f});
  }
  io::saveSafetensors(path, tensors, metadata);
  EXPECT_FLOAT_EQ(static_cast<float>(train::loadSavedModel(path).standardization->scale[1]), 1e-8f);
  for (auto& [name, tensor] : tensors) {
    if (name == "input_standardization.std") tensor = at::tensor({0.5f, 0.0f, 1.0f});
  }
  io::saveSafetensors(path, tensors, metadata);
  EXPECT_THROW(train::loadSavedModel(path), UserError);
  metadata["input_standardization"] = "variance";
  io::saveSafetensors(path, tensors, metadata);
  EXPECT_THROW(train::loadSavedModel(path), UserError);
  std::remove(path.c_str());
}

TEST(SpecNetwork, AModelFileOfAnUnknownKindIsRefusedByName) {
  const ModelSpec spec = specFrom(R"([{"type": "Linear", "out_features": 3}])", {3}, 3);
  const std::string path = testing::TempDir() + "unknown-kind-" + std::to_string(::getpid());
  train::saveModel(path, *makeModel(spec), spec, std::nullopt);
  io::Metadata metadata;
  const io::NamedTensors tensors = io::loadSafetensors(path, &metadata);
  EXPECT_EQ(metadata.at("model"), "spec");
  metadata["model"] = "rnn";
  io::saveSafetensors(path, tensors, metadata);
  try {
    train::loadSavedModel(path);
    ADD_FAILURE() << "a model of kind rnn was loaded";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("model 'rnn' is not one ringtrain knows"),
              std::string::npos)
        << error.what();
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ringtrain::models
