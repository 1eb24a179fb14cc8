#include "Predictor.h"

#include <ATen/ATen.h>

#include <memory>

#include "io/Safetensors.h"
#include "io/Table.h"
#include "ringtrain/util/Error.h"
#include "train/ModelFile.h"
#include "unsupervised/KMeansMath.h"
#include "util/Files.h"

namespace ringtrain::cli {
namespace {

// k-means writes the centres and their sizes, and no model metadata.
std::optional<at::Tensor> kMeansCentres(const io::NamedTensors& tensors) {
  for (const auto& [name, tensor] : tensors) {
    if (name == "centres" && tensor.dim() == 2 && tensor.size(0) > 0) return tensor;
  }
  return std::nullopt;
}

Predictor clusterAssigner(at::Tensor centres, c10::Device device) {
  Predictor predictor;
  predictor.describes = "k-means centres (" + std::to_string(centres.size(0)) + " clusters)";
  predictor.columns = {"cluster", "distance"};
  // k-means fits every row it reads: it holds nothing out.
  predictor.split = train::DataSplit{};
  predictor.inputShape = {centres.size(1)};
  centres = centres.to(device, at::kFloat);
  predictor.predict = [centres](const at::Tensor& features) {
    const unsupervised::Nearest nearest =
        unsupervised::nearestCentres(features.flatten(1).to(at::kFloat), centres);
    return at::stack({nearest.index.to(at::kFloat), nearest.distance}, 1).to(at::kCPU);
  };
  return predictor;
}

}  // namespace

Predictor loadPredictor(const std::string& path, c10::Device device) {
  RINGTRAIN_USER_CHECK(pathExists(path), "--model " << path << ": no such file");
  io::Metadata metadata;
  io::NamedTensors tensors;
  try {
    tensors = io::loadSafetensors(path, &metadata);
  } catch (const UserError& error) {
    throw UserError("--model " + path + ": not a model file a ringtrain job wrote (" +
                    error.what() + ")");
  }
  if (!metadata.count("producer")) {
    if (auto centres = kMeansCentres(tensors)) return clusterAssigner(*centres, device);
    for (const auto& [name, tensor] : tensors) {
      RINGTRAIN_USER_CHECK(name != "components",
                           "--model " << path
                                      << " holds principal components (ringtrain pca): predict "
                                         "reads classifiers, autoencoders and k-means centres");
    }
  }
  train::SavedModel saved = train::loadSavedModel(path);
  const std::shared_ptr<models::Classifier> model = saved.model;
  model->to(device);
  model->eval();
  Predictor predictor;
  predictor.inputShape = saved.spec.inputShape;
  predictor.standardization = saved.standardization;
  predictor.split = saved.split;
  predictor.tokenizer = saved.tokenizer;
  if (saved.spec.kind == models::ModelKind::kAutoencoder) {
    // The widths are the encoder's, the code's and the decoder's (the encoder's reversed), so the
    // code is the middle hidden layer; its activations are what the decoder reads.
    const std::vector<int64_t>& widths = saved.spec.hidden;
    RINGTRAIN_USER_CHECK(widths.size() % 2 == 1,
                         "--model " << path << ": an autoencoder with " << widths.size()
                                    << " hidden layers has no middle (code) layer");
    const size_t codeLayer = widths.size() / 2;
    predictor.describes = "autoencoder (code of " + std::to_string(widths[codeLayer]) + ")";
    predictor.columns = io::numberedColumns("code_", widths[codeLayer]);
    predictor.predict = [model, codeLayer](const at::Tensor& features) {
      at::Tensor x = features;
      for (size_t i = 0; i <= codeLayer; ++i) x = model->layers()[i].forward(x);
      return x.to(at::kCPU, at::kFloat);
    };
    return predictor;
  }
  const int64_t classes = saved.spec.numClasses;
  predictor.describes = "classifier (" + models::modelKindName(saved.spec.kind) + ", " +
                        std::to_string(classes) + " classes)";
  predictor.columns = io::numberedColumns("p_", classes);
  predictor.columns.insert(predictor.columns.begin(), "class");
  predictor.predict = [model](const at::Tensor& features) {
    at::Tensor logits = model->forward(features);
    // A language model predicts every position; the last predicts the token after the window.
    if (logits.dim() == 3) logits = logits.select(1, logits.size(1) - 1);
    logits = logits.to(at::kCPU, at::kFloat);
    const at::Tensor probabilities = at::softmax(logits, 1);
    return at::cat({logits.argmax(1, true).to(at::kFloat), probabilities}, 1);
  };
  return predictor;
}

}  // namespace ringtrain::cli
