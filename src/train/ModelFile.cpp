#include "train/ModelFile.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/Safetensors.h"
#include "models/ModelKinds.h"
#include "models/SpecEquivalent.h"
#include "ringtrain/models/Model.h"
#include "ringtrain/util/Error.h"
#include "util/Numbers.h"

namespace ringtrain::train {
namespace {

constexpr const char* kMeanTensor = "input_standardization.mean";
constexpr const char* kStdTensor = "input_standardization.std";
// Metadata saying that kStdTensor holds the scale (1 for a constant feature). Files without it
// hold the standard deviation, which training used clamped to at least kLegacyMinimumStd.
constexpr const char* kScaleMarker = "input_standardization";
constexpr double kLegacyMinimumStd = 1e-6;
constexpr const char* kSeedKey = "seed";
constexpr const char* kHeldOutKey = "held_out_fraction";
constexpr const char* kTokenizerKey = "tokenizer";
constexpr const char* kSentencePieceTensor = "tokenizer.sentencepiece";

std::string joined(const std::vector<int64_t>& values, const char* separator) {
  std::ostringstream text;
  for (size_t i = 0; i < values.size(); ++i) text << (i ? separator : "") << values[i];
  return text.str();
}

std::vector<int64_t> split(const std::string& text, char separator, const std::string& where) {
  std::vector<int64_t> values;
  std::istringstream fields(text);
  std::string field;
  while (std::getline(fields, field, separator)) {
    const auto value = parseInt64(field);
    RINGTRAIN_USER_CHECK(value && *value > 0, where << ": '" << text << "' is not a list of sizes");
    values.push_back(*value);
  }
  return values;
}

std::vector<double> valuesOf(const at::Tensor& tensor) {
  const at::Tensor values = tensor.to(at::kDouble).contiguous();
  return {values.const_data_ptr<double>(), values.const_data_ptr<double>() + values.numel()};
}

// Whether a tensor of a model file is a model's, not how its data was prepared.
bool isModelTensor(const std::string& name) {
  return name != kMeanTensor && name != kStdTensor && name != kSentencePieceTensor;
}

// Kinds whose "hidden" metadata means something.
bool hasHiddenWidths(models::ModelKind kind) {
  return kind == models::ModelKind::kMlp || kind == models::ModelKind::kCnn ||
         kind == models::ModelKind::kAutoencoder;
}

// A model tensor of a file, by the name the model gives it.
struct StoredTensor {
  at::Tensor value;
  std::string nameInFile;
};

// The model tensors of a file, by the model's own names, whether the file
// names a built-in model's tensors as `equivalent` (its spec) does (what saveModel writes) or as
// the model does (built-in names never start with a spec's layer number). UserError naming `origin`
// when two tensors of the file are the same one of the model's.
std::map<std::string, StoredTensor> modelTensorsOf(
    const io::NamedTensors& tensors, const std::optional<models::SpecEquivalent>& equivalent,
    const std::string& origin) {
  std::map<std::string, StoredTensor> stored;
  for (const auto& [name, tensor] : tensors) {
    if (!isModelTensor(name)) continue;
    std::optional<std::string> own;
    if (equivalent) own = models::renamed(*equivalent, name, /*toSpec=*/false);
    const auto [where, added] = stored.emplace(own.value_or(name), StoredTensor{tensor, name});
    RINGTRAIN_USER_CHECK(added, origin << ": tensors '" << where->second.nameInFile << "' and '"
                                       << name << "' are both the model's " << where->first);
  }
  return stored;
}

// "'1.weight' (the model's hidden.0.weight)", or "'conv1.bias'".
std::string describe(const std::string& nameInModel, const StoredTensor& stored) {
  if (stored.nameInFile == nameInModel) return "'" + nameInModel + "'";
  return "'" + stored.nameInFile + "' (the model's " + nameInModel + ")";
}

// Parameters and buffers, as model.safetensors holds them.
std::vector<std::pair<std::string, at::Tensor>> stateOf(models::Classifier& model) {
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& item : model.named_parameters()) state.emplace_back(item.key(), item.value());
  for (const auto& item : model.named_buffers()) state.emplace_back(item.key(), item.value());
  return state;
}

}  // namespace

void saveModel(const std::string& path, models::Classifier& model, const models::ModelSpec& spec,
               const std::optional<data::FeatureStatistics>& standardization,
               const std::optional<DataSplit>& split,
               const std::optional<text::TokenizerRecord>& tokenizer) {
  const auto equivalent = models::specEquivalentOf(spec);
  io::NamedTensors tensors;
  for (const auto& [name, tensor] : stateOf(model)) {
    std::optional<std::string> stored = name;
    if (equivalent) stored = models::renamed(*equivalent, name, /*toSpec=*/true);
    RINGTRAIN_CHECK(stored, "tensor " << name << " has no name in the model's spec");
    tensors.emplace_back(*stored, tensor.detach().to(at::kCPU));
  }
  if (standardization) {
    tensors.emplace_back(kMeanTensor,
                         at::tensor(standardization->mean, at::kDouble).to(at::kFloat));
    tensors.emplace_back(kStdTensor,
                         at::tensor(standardization->scale, at::kDouble).to(at::kFloat));
  }
  if (tokenizer && !tokenizer->model.empty()) {
    const auto bytes = static_cast<int64_t>(tokenizer->model.size());
    tensors.emplace_back(
        kSentencePieceTensor,
        at::from_blob(const_cast<char*>(tokenizer->model.data()), {bytes}, at::kByte).clone());
  }
  io::Metadata metadata{{"format", "pt"},
                        {"producer", "ringtrain"},
                        {"model", models::modelKindName(spec.kind)},
                        {"input_shape", joined(spec.inputShape, "x")},
                        {"num_classes", std::to_string(spec.numClasses)}};
  if (hasHiddenWidths(spec.kind)) metadata["hidden"] = joined(spec.hidden, ",");
  if (spec.kind == models::ModelKind::kGpt) {
    metadata["gpt"] = joined({spec.gpt.layers, spec.gpt.width, spec.gpt.heads}, ",");
  }
  if (spec.kind == models::ModelKind::kSpec)
    metadata["network"] = nlohmann::json::parse(spec.network).dump();
  if (equivalent) metadata["network"] = equivalent->network;
  if (standardization) metadata[kScaleMarker] = "scale";
  if (tokenizer) metadata[kTokenizerKey] = tokenizer->kind;
  if (split) {
    metadata[kSeedKey] = std::to_string(split->seed);
    metadata[kHeldOutKey] = shortestText(split->heldOutFraction.value_or(0.0));
  }
  io::saveSafetensors(path, tensors, metadata);
}

namespace {

// `origin` names the file for messages ("--init-from PATH").
void copyIntoModel(const io::NamedTensors& tensors, models::Classifier& model,
                   const models::ModelSpec& spec, const std::string& origin) {
  const auto equivalent = models::specEquivalentOf(spec);
  std::map<std::string, StoredTensor> stored = modelTensorsOf(tensors, equivalent, origin);
  c10::NoGradGuard noGrad;
  for (auto& [name, tensor] : stateOf(model)) {
    const auto found = stored.find(name);
    const auto specName =
        equivalent ? models::renamed(*equivalent, name, /*toSpec=*/true) : std::nullopt;
    RINGTRAIN_USER_CHECK(found != stored.end(),
                         origin << ": has no tensor '" << (specName ? *specName : name) << "'"
                                << (specName ? " (nor the model's own name, " + name + ")" : "")
                                << ": is it a model of another kind or size?");
    const at::Tensor& value = found->second.value;
    RINGTRAIN_USER_CHECK(value.sizes() == tensor.sizes(),
                         origin << ": tensor " << describe(name, found->second) << " has shape ["
                                << joined(value.sizes().vec(), ",") << "] but the model needs ["
                                << joined(tensor.sizes().vec(), ",") << "]");
    RINGTRAIN_USER_CHECK(value.is_floating_point() == tensor.is_floating_point(),
                         origin << ": tensor " << describe(name, found->second) << " is "
                                << (tensor.is_floating_point() ? "not " : "")
                                << "floating point, unlike the model's");
    tensor.copy_(value);
    stored.erase(found);
  }
  RINGTRAIN_USER_CHECK(stored.empty(), origin << ": tensor '" << stored.begin()->second.nameInFile
                                              << "' matches no model parameter");
}

}  // namespace

void loadInitialWeights(const std::string& path, models::Classifier& model,
                        const models::ModelSpec& spec, const std::string& what) {
  copyIntoModel(io::loadSafetensors(path), model, spec, what + " " + path);
}

SavedModel loadSavedModel(const std::string& path) {
  io::Metadata metadata;
  const io::NamedTensors tensors = io::loadSafetensors(path, &metadata);
  const auto field = [&](const char* key) {
    const auto found = metadata.find(key);
    RINGTRAIN_USER_CHECK(found != metadata.end(),
                         "--model " << path << ": its metadata has no '" << key
                                    << "': not a model file written by ringtrain train");
    return found->second;
  };
  RINGTRAIN_USER_CHECK(metadata.count("producer") && metadata["producer"] == "ringtrain",
                       "--model " << path << ": not a model file written by ringtrain train");
  SavedModel saved;
  models::ModelSpec& spec = saved.spec;
  const std::string where = "--model " + path;
  const auto kind = findNamed(models::modelKindNames(), field("model"));
  RINGTRAIN_USER_CHECK(kind, where << ": model '" << field("model")
                                   << "' is not one ringtrain knows ("
                                   << namesIn(models::modelKindNames()) << ")");
  spec.kind = *kind;
  RINGTRAIN_USER_CHECK(spec.kind != models::ModelKind::kCustom,
                       where << " holds a model of a program's own (TrainHooks::makeModel), which "
                                "cannot be rebuilt from the file: load it in that program");
  // Files of earlier versions record hidden widths for every kind.
  spec.hidden = hasHiddenWidths(spec.kind) ? split(field("hidden"), ',', where + ": hidden")
                                           : std::vector<int64_t>{};
  spec.inputShape = split(field("input_shape"), 'x', where + ": input_shape");
  RINGTRAIN_USER_CHECK(!spec.inputShape.empty(), where << ": input_shape is empty");
  const auto classes = parseInt64(field("num_classes"));
  // An autoencoder records the classes of its (ignored) labels, which may be one.
  RINGTRAIN_USER_CHECK(
      classes && *classes >= (spec.kind == models::ModelKind::kAutoencoder ? 1 : 2),
      where << ": num_classes is not a count");
  spec.numClasses = *classes;
  if (spec.kind == models::ModelKind::kGpt) {
    const std::vector<int64_t> shape = split(field("gpt"), ',', where + ": gpt");
    RINGTRAIN_USER_CHECK(shape.size() == 3, where << ": gpt must be layers,width,heads");
    spec.gpt = {shape[0], shape[1], shape[2]};
  }
  if (spec.kind == models::ModelKind::kSpec) {
    spec.network = field("network");
    spec.networkSource = path + " (its network)";
  }
  std::optional<at::Tensor> mean, deviation;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMeanTensor) mean = tensor;
    if (name == kStdTensor) deviation = tensor;
  }
  RINGTRAIN_USER_CHECK(
      mean.has_value() == deviation.has_value(),
      where << ": holds one of " << kMeanTensor << " and " << kStdTensor << " without the other");
  RINGTRAIN_USER_CHECK(
      !mean || (mean->dim() == 1 && mean->sizes() == deviation->sizes()),
      where << ": " << kMeanTensor << " and " << kStdTensor << " must be lists of the same length");
  if (mean) {
    std::vector<double> scale = valuesOf(*deviation);
    const auto marker = metadata.find(kScaleMarker);
    const bool legacy = marker == metadata.end();
    RINGTRAIN_USER_CHECK(legacy || marker->second == "scale",
                         where << ": metadata '" << kScaleMarker << "' is '" << marker->second
                               << "', which this version does not know (it writes 'scale')");
    for (double& value : scale) {
      // What the model was trained with, for a file of an earlier version.
      if (legacy) value = std::max(value, kLegacyMinimumStd);
      RINGTRAIN_USER_CHECK(value > 0,
                           where << ": " << kStdTensor << " holds " << value << ", not a scale");
    }
    saved.standardization = data::FeatureStatistics{valuesOf(*mean), std::move(scale)};
  }
  if (metadata.count(kSeedKey)) {
    const auto seed = parseUint64(metadata[kSeedKey]);
    const auto fraction = parseFiniteDouble(field(kHeldOutKey));
    RINGTRAIN_USER_CHECK(seed && fraction && *fraction >= 0 && *fraction < 1,
                         where << ": seed and held_out_fraction are not a seed and a share");
    saved.split = DataSplit{*seed, *fraction > 0 ? std::optional<double>(*fraction) : std::nullopt};
  }
  if (metadata.count(kTokenizerKey)) {
    text::TokenizerRecord tokenizer{metadata[kTokenizerKey], ""};
    bool found = false;
    for (const auto& [name, tensor] : tensors) {
      if (name != kSentencePieceTensor) continue;
      found = true;
      RINGTRAIN_USER_CHECK(tensor.dim() == 1 && tensor.scalar_type() == at::kByte,
                           where << ": " << kSentencePieceTensor << " is not a list of bytes");
      const at::Tensor bytes = tensor.contiguous();
      tokenizer.model.assign(static_cast<const char*>(bytes.const_data_ptr()),
                             static_cast<size_t>(bytes.numel()));
    }
    RINGTRAIN_USER_CHECK(found == (tokenizer.kind == text::kSentencePieceTokenizer),
                         where << ": its tokenizer is '" << tokenizer.kind << "', and it "
                               << (found ? "holds " : "lacks ") << kSentencePieceTensor);
    saved.tokenizer = std::move(tokenizer);
  }
  saved.model = models::makeModel(spec);
  copyIntoModel(tensors, *saved.model, spec, where);
  return saved;
}

}  // namespace ringtrain::train
