// Each built-in model is the network its equivalent spec describes: the same tensors under the
// spec's names compute the same outputs. Model files write built-in models that way and read both
// namings back.
#include "models/SpecEquivalent.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <ostream>

#include "io/Safetensors.h"
#include "models/ModelKinds.h"
#include "train/ModelFile.h"

namespace ringtrain::models {
namespace {

ModelSpec builtIn(const std::string& kind, std::vector<int64_t> inputShape, int64_t classes,
                  std::vector<int64_t> hidden = {6, 5}) {
  ModelSpec spec;
  spec.kind = findNamed(modelKindNames(), kind).value();
  spec.hidden = std::move(hidden);
  spec.inputShape = std::move(inputShape);
  spec.numClasses = classes;
  spec.gpt = {2, 8, 2};
  return spec;
}

// The network of `equivalent` for samples of `spec`, giving `outputs` per sample (or position).
ModelSpec specNetwork(const ModelSpec& spec, const SpecEquivalent& equivalent, int64_t outputs) {
  ModelSpec network;
  network.kind = ModelKind::kSpec;
  network.network = equivalent.network;
  network.networkSource = "equivalent of " + modelKindName(spec.kind);
  network.inputShape = spec.inputShape;
  network.numClasses = outputs;
  return network;
}

std::map<std::string, at::Tensor> stateOf(Classifier& model) {
  std::map<std::string, at::Tensor> state;
  for (const auto& item : model.named_parameters()) state[item.key()] = item.value();
  for (const auto& item : model.named_buffers()) state[item.key()] = item.value();
  return state;
}

at::Tensor inputFor(const ModelSpec& spec) {
  std::vector<int64_t> shape{3};
  shape.insert(shape.end(), spec.inputShape.begin(), spec.inputShape.end());
  if (spec.kind == ModelKind::kGpt) return at::randint(0, spec.numClasses, shape).to(at::kFloat);
  return at::randn(shape);
}

struct Case {
  std::string name;
  ModelSpec spec;
};
void PrintTo(const Case& model, std::ostream* out) {
  *out << model.name;
}

class SpecEquivalentTest : public ::testing::TestWithParam<Case> {};

TEST_P(SpecEquivalentTest, TheSameTensorsUnderTheSpecsNamesComputeTheSame) {
  const ModelSpec spec = GetParam().spec;
  const auto equivalent = specEquivalentOf(spec);
  ASSERT_TRUE(equivalent.has_value());
  at::manual_seed(3);
  const auto model = makeModel(spec);
  const int64_t outputs = spec.kind == ModelKind::kAutoencoder
                              ? c10::multiply_integers(spec.inputShape)
                              : spec.numClasses;
  const auto network = makeModel(specNetwork(spec, *equivalent, outputs));
  std::map<std::string, at::Tensor> target = stateOf(*network);
  c10::NoGradGuard noGrad;
  for (const auto& [name, tensor] : stateOf(*model)) {
    const auto specName = renamed(*equivalent, name, /*toSpec=*/true);
    ASSERT_TRUE(specName) << name;
    EXPECT_EQ(renamed(*equivalent, *specName, /*toSpec=*/false), name);
    const auto found = target.find(*specName);
    ASSERT_NE(found, target.end()) << name << " -> " << *specName;
    ASSERT_EQ(found->second.sizes(), tensor.sizes()) << name;
    found->second.copy_(tensor);
    target.erase(found);
  }
  EXPECT_TRUE(target.empty()) << "the spec has more tensors, such as " << target.begin()->first;
  model->eval();
  network->eval();
  const at::Tensor x = inputFor(spec);
  EXPECT_TRUE(at::allclose(network->forward(x), model->forward(x), 1e-6, 1e-6));
  EXPECT_EQ(network->predictsEveryPosition(), model->predictsEveryPosition());
}

TEST_P(SpecEquivalentTest, AModelFileUsesTheSpecsNamesAndReadsBack) {
  const ModelSpec spec = GetParam().spec;
  at::manual_seed(4);
  const auto model = makeModel(spec);
  model->eval();
  const std::string path = ::testing::TempDir() + "equivalent-" + std::to_string(::getpid());
  train::saveModel(path, *model, spec);
  io::Metadata metadata;
  const io::NamedTensors tensors = io::loadSafetensors(path, &metadata);
  const train::SavedModel saved = train::loadSavedModel(path);
  // Into a fresh model of the kind, and into the spec network, from the same file.
  const auto again = makeModel(spec);
  train::loadInitialWeights(path, *again, spec);
  std::remove(path.c_str());

  EXPECT_EQ(metadata.at("network"), specEquivalentOf(spec)->network);
  EXPECT_EQ(metadata.count("hidden"), spec.kind == ModelKind::kGpt ? 0u : 1u);
  for (const auto& [name, tensor] : tensors) EXPECT_TRUE(std::isdigit(name[0])) << name;
  const at::Tensor x = inputFor(spec);
  saved.model->eval();
  again->eval();
  EXPECT_TRUE(at::equal(saved.model->forward(x), model->forward(x)));
  EXPECT_TRUE(at::equal(again->forward(x), model->forward(x)));
}

INSTANTIATE_TEST_SUITE_P(
    BuiltInModels, SpecEquivalentTest,
    ::testing::Values(Case{"mlp", builtIn("mlp", {7}, 3)},
                      Case{"mlpOfImagesWithoutHiddenLayers", builtIn("mlp", {2, 3}, 4, {})},
                      Case{"cnn", builtIn("cnn", {2, 9, 9}, 3)},
                      Case{"cnnOfFlatRows", builtIn("cnn", {64}, 5, {7})},
                      Case{"cnnOfOnePixel", builtIn("cnn", {1, 1, 1}, 2)},
                      Case{"gpt", builtIn("gpt", {6}, 11)},
                      Case{"autoencoder", builtIn("autoencoder", {2, 4}, 1, {5, 2, 5})}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(SpecEquivalent, FilesWithTheBuiltInNamesStillLoad) {
  const ModelSpec spec = builtIn("gpt", {6}, 11);
  const auto model = makeModel(spec);
  io::NamedTensors tensors;
  for (const auto& item : model->named_parameters()) tensors.emplace_back(item.key(), item.value());
  const std::string path = ::testing::TempDir() + "built-in-names-" + std::to_string(::getpid());
  io::saveSafetensors(path, tensors, {});
  const auto again = makeModel(spec);
  train::loadInitialWeights(path, *again, spec);
  std::remove(path.c_str());
  const at::Tensor x = inputFor(spec);
  model->eval();
  again->eval();
  EXPECT_TRUE(at::equal(again->forward(x), model->forward(x)));
  ModelSpec network;
  network.kind = ModelKind::kSpec;
  EXPECT_FALSE(specEquivalentOf(network).has_value());
}

}  // namespace
}  // namespace ringtrain::models
