#include "ringtrain/models/Model.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ringtrain/util/Error.h"

namespace ringtrain::models {
namespace {

std::vector<std::pair<std::string, std::vector<int64_t>>> shapes(Classifier& model) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> result;
  for (const auto& item : model.named_parameters())
    result.emplace_back(item.key(), item.value().sizes().vec());
  return result;
}

TEST(Model, MlpParameterNamesAreStable) {
  auto model = makeModel({"mlp", {8, 4}, {5}, 3});
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
  auto model = makeModel({"mlp", {}, {2, 3}, 4});
  ASSERT_EQ(model->named_parameters().size(), 2u);
  EXPECT_EQ(model->forward(at::randn({2, 2, 3})).sizes().vec(), (std::vector<int64_t>{2, 4}));
}

TEST(Model, CnnTakesImagesOrSquareRows) {
  auto images = makeModel({"cnn", {16}, {1, 28, 28}, 10});
  EXPECT_EQ(images->forward(at::randn({3, 1, 28, 28})).sizes().vec(),
            (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(images->named_parameters()["conv1.weight"].sizes().vec(),
            (std::vector<int64_t>{16, 1, 3, 3}));
  EXPECT_EQ(images->named_parameters()["hidden.0.weight"].sizes().vec(),
            (std::vector<int64_t>{16, 512}));
  auto rows = makeModel({"cnn", {}, {64}, 10});
  EXPECT_EQ(rows->forward(at::randn({2, 64})).sizes().vec(), (std::vector<int64_t>{2, 10}));
  EXPECT_THROW(makeModel({"cnn", {}, {63}, 10}), UserError);
}

TEST(Model, RejectsUnknownKindsAndTooFewClasses) {
  EXPECT_THROW(makeModel({"rnn", {}, {4}, 3}), UserError);
  EXPECT_THROW(makeModel({"mlp", {}, {4}, 1}), UserError);
}

TEST(Model, ParsesLayerSizes) {
  EXPECT_EQ(parseLayerSizes("512,256"), (std::vector<int64_t>{512, 256}));
  EXPECT_EQ(parseLayerSizes(""), (std::vector<int64_t>{}));
  EXPECT_THROW(parseLayerSizes("512,x"), UserError);
  EXPECT_THROW(parseLayerSizes("0"), UserError);
}

}  // namespace
}  // namespace ringtrain::models
