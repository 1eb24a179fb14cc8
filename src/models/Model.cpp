#include "ringtrain/models/Model.h"

#include <cmath>
#include <sstream>

#include "Cnn.h"
#include "Gpt.h"
#include "Mlp.h"
#include "ModelKinds.h"
#include "SpecNetwork.h"
#include "ringtrain/util/Error.h"
#include "util/Files.h"
#include "util/Numbers.h"

namespace ringtrain::models {
namespace {

int64_t product(const std::vector<int64_t>& shape) {
  int64_t total = 1;
  for (const int64_t extent : shape) total *= extent;
  return total;
}

}  // namespace

std::vector<int64_t> cnnImageShape(const std::vector<int64_t>& inputShape) {
  if (inputShape.size() == 3) return inputShape;
  if (inputShape.size() == 1) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(inputShape[0]))));
    if (side * side == inputShape[0]) return {1, side, side};
  }
  std::ostringstream shape;
  for (size_t i = 0; i < inputShape.size(); ++i) shape << (i ? "x" : "") << inputShape[i];
  throw UserError("--model cnn needs image samples [C,H,W] or a square number of features; got " +
                  shape.str());
}

const NameTable<ModelKind>& modelKindNames() {
  static const NameTable<ModelKind> names{
      {"mlp", ModelKind::kMlp},   {"cnn", ModelKind::kCnn},
      {"gpt", ModelKind::kGpt},   {"autoencoder", ModelKind::kAutoencoder},
      {"spec", ModelKind::kSpec}, {"custom", ModelKind::kCustom}};
  return names;
}

const NameTable<ModelKind>& builtInModelNames() {
  static const NameTable<ModelKind> names{{"mlp", ModelKind::kMlp},
                                          {"cnn", ModelKind::kCnn},
                                          {"gpt", ModelKind::kGpt},
                                          {"autoencoder", ModelKind::kAutoencoder}};
  return names;
}

const std::string& modelKindName(ModelKind kind) {
  return nameOf(modelKindNames(), kind);
}

at::Tensor Classifier::forward(const at::Tensor& x) {
  at::Tensor y = x;
  for (const Layer& layer : layers_) y = layer.forward(y);
  return y;
}

std::shared_ptr<Classifier> makeModel(const ModelSpec& spec) {
  RINGTRAIN_CHECK(!spec.inputShape.empty(), "model input shape is unknown");
  if (spec.kind == ModelKind::kAutoencoder) {
    // Reconstructs its (flattened) input: ReLU after every layer but the output.
    return std::make_shared<Mlp>(product(spec.inputShape), spec.hidden, product(spec.inputShape));
  }
  RINGTRAIN_USER_CHECK(spec.numClasses >= 2,
                       "the data has " << spec.numClasses << " class; training needs at least 2");
  if (spec.kind == ModelKind::kMlp) {
    return std::make_shared<Mlp>(product(spec.inputShape), spec.hidden, spec.numClasses);
  }
  if (spec.kind == ModelKind::kCnn) {
    return std::make_shared<Cnn>(cnnImageShape(spec.inputShape), spec.hidden, spec.numClasses);
  }
  if (spec.kind == ModelKind::kGpt) {
    RINGTRAIN_USER_CHECK(spec.inputShape.size() == 1,
                         "--model gpt needs token windows (a token data set from ringtrain prep "
                         "--format text), not samples of shape "
                             << spec.inputShape.size() << "-D");
    const GptShape& shape = spec.gpt;
    RINGTRAIN_USER_CHECK(shape.layers >= 1, "--layers must be positive, got " << shape.layers);
    RINGTRAIN_USER_CHECK(shape.heads >= 1 && shape.width >= 1 && shape.width % shape.heads == 0,
                         "--width (" << shape.width << ") must be a positive multiple of --heads ("
                                     << shape.heads << ")");
    return std::make_shared<Gpt>(shape, spec.inputShape[0], spec.numClasses);
  }
  if (spec.kind == ModelKind::kSpec) {
    return std::make_shared<SpecNetwork>(parseNetwork(spec.network, spec.networkSource),
                                         spec.inputShape, spec.numClasses);
  }
  throw UserError("a model of a program's own (kind " + modelKindName(spec.kind) +
                  ") is built by that program, not by ringtrain");
}

ModelSpec modelSpecFromFile(const std::string& path) {
  ModelSpec spec;
  spec.kind = ModelKind::kSpec;
  spec.hidden.clear();
  spec.network = readFile(path);
  spec.networkSource = path;
  return spec;
}

std::vector<int64_t> parseLayerSizes(const std::string& text) {
  std::vector<int64_t> sizes;
  std::istringstream fields(text);
  std::string field;
  while (std::getline(fields, field, ',')) {
    const auto value = parseInt64(field);
    RINGTRAIN_USER_CHECK(value && *value > 0,
                         "--hidden: '" << field << "' is not a positive layer width (expected "
                                       << "a list like 512,256)");
    sizes.push_back(*value);
  }
  return sizes;
}

}  // namespace ringtrain::models
