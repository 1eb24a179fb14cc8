#include "ringtrain/train/ModelFile.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <map>
#include <sstream>

#include "ringtrain/io/Safetensors.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::train {
namespace {

std::string joined(const std::vector<int64_t>& values, const char* separator) {
  std::ostringstream text;
  for (size_t i = 0; i < values.size(); ++i) text << (i ? separator : "") << values[i];
  return text.str();
}

}  // namespace

void saveModel(const std::string& path, models::Classifier& model, const models::ModelSpec& spec) {
  io::NamedTensors tensors;
  for (const auto& item : model.named_parameters()) {
    tensors.emplace_back(item.key(), item.value().detach().to(at::kCPU));
  }
  io::Metadata metadata{{"format", "pt"},
                        {"producer", "ringtrain"},
                        {"model", spec.kind},
                        {"hidden", joined(spec.hidden, ",")},
                        {"input_shape", joined(spec.inputShape, "x")},
                        {"num_classes", std::to_string(spec.numClasses)}};
  if (spec.kind == "gpt") {
    metadata["gpt"] = joined({spec.gpt.layers, spec.gpt.width, spec.gpt.heads}, ",");
  }
  io::saveSafetensors(path, tensors, metadata);
}

void loadInitialWeights(const std::string& path, models::Classifier& model) {
  std::map<std::string, at::Tensor> stored;
  for (auto& [name, tensor] : io::loadSafetensors(path)) stored.emplace(name, std::move(tensor));

  c10::NoGradGuard noGrad;
  for (auto& item : model.named_parameters()) {
    const auto found = stored.find(item.key());
    RINGTRAIN_USER_CHECK(found != stored.end(),
                         "--init-from " << path << ": has no tensor '" << item.key()
                                        << "' (is it a model of another kind or size?)");
    at::Tensor& parameter = item.value();
    RINGTRAIN_USER_CHECK(found->second.sizes() == parameter.sizes(),
                         "--init-from " << path << ": tensor '" << item.key() << "' has shape ["
                                        << joined(found->second.sizes().vec(), ",")
                                        << "] but the model needs ["
                                        << joined(parameter.sizes().vec(), ",") << "]");
    RINGTRAIN_USER_CHECK(
        found->second.is_floating_point(),
        "--init-from " << path << ": tensor '" << item.key() << "' is not floating point");
    parameter.copy_(found->second);
    stored.erase(found);
  }
  RINGTRAIN_USER_CHECK(stored.empty(), "--init-from " << path << ": tensor '"
                                                      << stored.begin()->first
                                                      << "' matches no model parameter");
}

}  // namespace ringtrain::train
