#include "ringtrain/models/Model.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <cmath>

#include "models/ModelKinds.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::models {
namespace {

ModelSpec specOf(const std::string& kind, std::vector<int64_t> hidden,
                 std::vector<int64_t> inputShape, int64_t classes) {
  ModelSpec spec;
  spec.kind = findNamed(modelKindNames(), kind).value();
  spec.hidden = std::move(hidden);
  spec.inputShape = std::move(inputShape);
  spec.numClasses = classes;
  return spec;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> shapes(Classifier& model) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> result;
  for (const auto& item : model.named_parameters())
    result.emplace_back(item.key(), item.value().sizes().vec());
  return result;
}

TEST(Model, MlpParameterNamesAreStable) {
  auto model = makeModel(specOf("mlp", {8, 4}, {5}, 3));
  using Shapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;
  EXPECT_EQ(shapes(*model), (Shapes{{"hidden.0.weight", {8, 5}},
                                    {"hidden.0.bias", {8}},
                                    {"hidden.1.weight", {4, 8}},
                                    {"hidden.1.bias", {4}},
                                    {"output.weight", {3, 4}},
                                    {"output.bias", {3}}}));
  EXPECT_EQ(model->forward(at::randn({7, 5})).sizes().vec(), (std::vector<int64_t>{7, 3}));
}

TEST(Model, MlpWithoutHiddenLayersIsLinear) {
  auto model = makeModel(specOf("mlp", {}, {2, 3}, 4));
  ASSERT_EQ(model->named_parameters().size(), 2u);
  EXPECT_EQ(model->forward(at::randn({2, 2, 3})).sizes().vec(), (std::vector<int64_t>{2, 4}));
}

TEST(Model, CnnTakesImagesOrSquareRows) {
  auto images = makeModel(specOf("cnn", {16}, {1, 28, 28}, 10));
  EXPECT_EQ(images->forward(at::randn({3, 1, 28, 28})).sizes().vec(),
            (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(images->named_parameters()["conv1.weight"].sizes().vec(),
            (std::vector<int64_t>{16, 1, 3, 3}));
  EXPECT_EQ(images->named_parameters()["hidden.0.weight"].sizes().vec(),
            (std::vector<int64_t>{16, 512}));
  auto rows = makeModel(specOf("cnn", {}, {64}, 10));
  EXPECT_EQ(rows->forward(at::randn({2, 64})).sizes().vec(), (std::vector<int64_t>{2, 10}));
  EXPECT_THROW(makeModel(specOf("cnn", {}, {63}, 10)), UserError);
}

TEST(Model, LayersInOrderAreTheModel) {
  at::manual_seed(3);
  const at::Tensor images = at::randn({2, 1, 9, 9});
  for (const ModelSpec& spec : {specOf("mlp", {8, 4}, {81}, 3), specOf("cnn", {6}, {1, 9, 9}, 3),
                                specOf("mlp", {}, {81}, 3)}) {
    auto model = makeModel(spec);
    const auto named = model->named_parameters();
    at::Tensor x = images;
    size_t parameters = 0;
    for (const Layer& layer : model->layers()) {
      x = layer.forward(x);
      for (const auto& item : layer.module->named_parameters()) {
        // Every layer's parameters are the model's, under the layer's name.
        const at::Tensor* mine = named.find(layer.name + "." + item.key());
        ASSERT_NE(mine, nullptr) << layer.name << "." << item.key();
        EXPECT_TRUE(mine->is_same(item.value()));
        ++parameters;
      }
    }
    EXPECT_EQ(parameters, model->parameters().size()) << modelKindName(spec.kind);
    EXPECT_TRUE(x.equal(model->forward(images)));
  }
}

ModelSpec gptSpec() {
  ModelSpec spec = specOf("gpt", {}, {12}, 256);
  spec.gpt = {2, 16, 4};
  return spec;
}

TEST(Model, GptPredictsTheNextTokenFromAWindow) {
  at::manual_seed(4);
  auto model = makeModel(gptSpec());
  std::vector<std::string> names;
  for (const Layer& layer : model->layers()) names.push_back(layer.name);
  EXPECT_EQ(names, (std::vector<std::string>{"embedding", "blocks.0", "blocks.1", "head"}));
  const at::Tensor tokens = at::randint(0, 256, {3, 12}).to(at::kFloat);
  // A prediction of the next token at every position.
  EXPECT_TRUE(model->predictsEveryPosition());
  EXPECT_EQ(model->forward(tokens).sizes(), (std::vector<int64_t>{3, 12, 256}));
  EXPECT_EQ(model->named_parameters()["blocks.1.attention.qkv.weight"].sizes(),
            (std::vector<int64_t>{48, 16}));
}

// Position t of every block's output depends on tokens 0..t only.
TEST(Model, GptAttentionIsCausal) {
  at::manual_seed(5);
  auto model = makeModel(gptSpec());
  const at::Tensor tokens = at::randint(0, 256, {1, 12}).to(at::kFloat);
  at::Tensor changed = tokens.clone();
  changed[0][8] = std::fmod(changed[0][8].item<float>() + 1, 256.0f);
  const auto hidden = [&](const at::Tensor& x) {
    at::Tensor y = x;
    for (size_t i = 0; i + 1 < model->layers().size(); ++i) y = model->layers()[i].forward(y);
    return y;  // before the head: [1, 12, width]
  };
  const at::Tensor before = hidden(tokens);
  const at::Tensor after = hidden(changed);
  EXPECT_TRUE(before.slice(1, 0, 8).allclose(after.slice(1, 0, 8)));
  EXPECT_FALSE(before.slice(1, 8).allclose(after.slice(1, 8)));
}

TEST(Model, GptLearnsARepeatingText) {
  at::manual_seed(6);
  auto model = makeModel(gptSpec());
  // Windows of "abcdefg" repeated: at every position the next token is determined.
  const std::string text = "abcdefgabcdefgabcdefgabcdefgabcdefgabcdefg";
  std::vector<at::Tensor> windows;
  std::vector<at::Tensor> shifted;
  for (size_t start = 0; start + 12 < text.size(); ++start) {
    std::vector<float> window(text.begin() + start, text.begin() + start + 12);
    std::vector<int64_t> next(text.begin() + start + 1, text.begin() + start + 13);
    windows.push_back(at::tensor(window));
    shifted.push_back(at::tensor(next));
  }
  const at::Tensor x = at::stack(windows);
  const at::Tensor y = at::stack(shifted);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(3e-3));
  double first = 0;
  double last = 0;
  for (int step = 0; step < 60; ++step) {
    optimizer.zero_grad();
    const at::Tensor loss =
        at::cross_entropy_loss(model->forward(x).reshape({-1, 256}), y.reshape(-1));
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.1 * first) << "loss " << first << " -> " << last;
  EXPECT_TRUE(model->forward(x).argmax(-1).equal(y));
}

TEST(Model, GptWidthMustSplitIntoHeads) {
  ModelSpec spec = gptSpec();
  spec.gpt.heads = 3;
  EXPECT_THROW(makeModel(spec), UserError);
  const ModelSpec images = specOf("gpt", {}, {1, 4, 4}, 3);
  EXPECT_THROW(makeModel(images), UserError);
}

TEST(Model, RejectsAProgramsOwnKindAndTooFewClasses) {
  EXPECT_THROW(makeModel(specOf("custom", {}, {4}, 3)), UserError);
  EXPECT_THROW(makeModel(specOf("mlp", {}, {4}, 1)), UserError);
}

TEST(Model, ParsesLayerSizes) {
  EXPECT_EQ(parseLayerSizes("512,256"), (std::vector<int64_t>{512, 256}));
  EXPECT_EQ(parseLayerSizes(""), (std::vector<int64_t>{}));
  EXPECT_THROW(parseLayerSizes("512,x"), UserError);
  EXPECT_THROW(parseLayerSizes("0"), UserError);
}

}  // namespace
}  // namespace ringtrain::models
