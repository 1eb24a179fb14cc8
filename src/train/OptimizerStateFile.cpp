#include "train/OptimizerStateFile.h"

#include <ATen/ATen.h>

#include <map>
#include <unordered_set>

#include "ringtrain/util/Error.h"

namespace ringtrain::train {
namespace {

constexpr const char* kFormatKey = "format";
constexpr const char* kFormat = "ringtrain-optimizer-state";
constexpr const char* kOptimizerKey = "optimizer";
constexpr const char* kStepField = "step";

// The file's tensors for one parameter with state, in the order they are written.
std::vector<io::TensorEntry> stateEntries(StateKind kind, const std::string& parameter,
                                          const at::Tensor& like) {
  std::vector<io::TensorEntry> entries;
  for (const std::string& field : stateFieldNames(kind)) {
    entries.push_back({parameter + "." + field, like.scalar_type(), like.sizes().vec()});
  }
  if (kind == StateKind::kAdamW) entries.push_back({parameter + "." + kStepField, at::kLong, {}});
  return entries;
}

std::unordered_set<const void*> parametersOf(const torch::optim::Optimizer& optimizer) {
  std::unordered_set<const void*> parameters;
  for (const auto& group : optimizer.param_groups()) {
    for (const at::Tensor& parameter : group.params()) {
      parameters.insert(parameter.unsafeGetTensorImpl());
    }
  }
  return parameters;
}

}  // namespace

bool fitsStateFile(const torch::optim::Optimizer& optimizer, torch::nn::Module& model) {
  if (!stateKindOf(optimizer)) return false;
  std::unordered_set<const void*> unnamed = parametersOf(optimizer);
  for (const at::Tensor& parameter : model.parameters())
    unnamed.erase(parameter.unsafeGetTensorImpl());
  return unnamed.empty();
}

std::string stateFileHeader(StateKind kind, const ddp::NamedParameters& stated) {
  std::vector<io::TensorEntry> entries;
  for (const auto& [name, parameter] : stated) {
    for (io::TensorEntry& entry : stateEntries(kind, name, parameter)) {
      entries.push_back(std::move(entry));
    }
  }
  return io::safetensorsHeader(entries,
                               {{kFormatKey, kFormat}, {kOptimizerKey, stateKindName(kind)}});
}

void writeTensor(const at::Tensor& tensor, const ByteSink& sink) {
  const at::Tensor contiguous = tensor.to(at::kCPU).contiguous();
  sink(contiguous.const_data_ptr(), contiguous.nbytes());
}

at::Tensor stepTensor(int64_t step) {
  return at::scalar_tensor(step, at::kLong);
}

ddp::NamedParameters statedParameters(const torch::optim::Optimizer& optimizer,
                                      const ddp::NamedParameters& parameters) {
  ddp::NamedParameters stated;
  for (const auto& [name, parameter] : parameters) {
    if (optimizer.state().count(parameter.unsafeGetTensorImpl()) != 0) {
      stated.emplace_back(name, parameter);
    }
  }
  return stated;
}

void emitState(const torch::optim::Optimizer& optimizer, const ddp::NamedParameters& stated,
               const TensorSink& emit) {
  const StateKind kind = *stateKindOf(optimizer);
  for (const auto& [name, parameter] : stated) {
    const torch::optim::OptimizerParamState& state =
        *optimizer.state().at(parameter.unsafeGetTensorImpl());
    for (const at::Tensor& tensor : stateTensors(state)) {
      RINGTRAIN_CHECK(
          tensor.scalar_type() == parameter.scalar_type() && tensor.sizes() == parameter.sizes(),
          "optimizer state of another type or shape than its parameter");
      emit(tensor);
    }
    if (kind == StateKind::kAdamW) emit(stepTensor(stateStep(state)));
  }
}

void streamOptimizerState(const torch::optim::Optimizer& optimizer, torch::nn::Module& model,
                          const ByteSink& sink) {
  RINGTRAIN_CHECK(fitsStateFile(optimizer, model),
                  "optimizer.safetensors holds the state of an SGD or AdamW over the model");
  ddp::NamedParameters parameters;
  for (const auto& item : model.named_parameters())
    parameters.emplace_back(item.key(), item.value());
  const ddp::NamedParameters stated = statedParameters(optimizer, parameters);
  const std::string header = stateFileHeader(*stateKindOf(optimizer), stated);
  sink(header.data(), header.size());
  emitState(optimizer, stated, [&sink](const at::Tensor& tensor) { writeTensor(tensor, sink); });
}

void loadOptimizerState(torch::optim::Optimizer& optimizer, torch::nn::Module& model,
                        const std::string& bytes, const std::string& origin, c10::Device device) {
  const std::optional<StateKind> kind = stateKindOf(optimizer);
  RINGTRAIN_CHECK(kind, "optimizer.safetensors holds the state of SGD or AdamW only");
  io::Metadata metadata;
  std::map<std::string, at::Tensor> stored;
  for (auto& [name, tensor] : io::decodeSafetensors(bytes, origin, &metadata)) {
    stored.emplace(name, std::move(tensor));
  }
  RINGTRAIN_USER_CHECK(metadata[kFormatKey] == kFormat,
                       origin << " is not a ringtrain optimizer state (no \"format\": \"" << kFormat
                              << "\" in its metadata)");
  RINGTRAIN_USER_CHECK(metadata[kOptimizerKey] == stateKindName(*kind),
                       origin << " holds the state of --optimizer " << metadata[kOptimizerKey]
                              << "; this run's optimizer is " << stateKindName(*kind));
  const auto take = [&](const io::TensorEntry& entry) {
    const auto found = stored.find(entry.name);
    RINGTRAIN_USER_CHECK(found != stored.end(),
                         origin << " has no tensor '" << entry.name << "' (a different model?)");
    RINGTRAIN_USER_CHECK(
        found->second.scalar_type() == entry.type && found->second.sizes().vec() == entry.shape,
        origin << ": tensor '" << entry.name << "' does not fit the model (a different model?)");
    at::Tensor tensor = std::move(found->second);
    stored.erase(found);
    return tensor;
  };
  optimizer.state().clear();
  const std::vector<std::string> fields = stateFieldNames(*kind);
  const std::unordered_set<const void*> optimized = parametersOf(optimizer);
  for (const auto& item : model.named_parameters()) {
    // A parameter without state (never updated yet) has none of its tensors in the file.
    if (stored.count(item.key() + "." + fields.front()) == 0) continue;
    RINGTRAIN_USER_CHECK(optimized.count(item.value().unsafeGetTensorImpl()) != 0,
                         origin << " has state for '" << item.key()
                                << "', which the optimizer does not update (an optimizer over a "
                                   "sharded DataParallel's slices restores through the "
                                   "DataParallel)");
    const std::vector<io::TensorEntry> entries = stateEntries(*kind, item.key(), item.value());
    std::vector<at::Tensor> tensors;
    for (size_t field = 0; field < fields.size(); ++field) {
      tensors.push_back(take(entries[field]).to(device));
    }
    const int64_t step = *kind == StateKind::kAdamW ? take(entries.back()).item<int64_t>() : 0;
    optimizer.state()[item.value().unsafeGetTensorImpl()] =
        makeState(*kind, std::move(tensors), step);
  }
  RINGTRAIN_USER_CHECK(stored.empty(), origin << " holds '" << stored.begin()->first
                                              << "', which no parameter of the model has "
                                                 "(a different model?)");
}

}  // namespace ringtrain::train
