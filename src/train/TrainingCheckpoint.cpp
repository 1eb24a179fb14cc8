#include "train/TrainingCheckpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <map>
#include <mutex>
#include <sstream>

#include "io/Safetensors.h"
#include "ringtrain/util/Error.h"
#include "train/OptimizerState.h"

namespace ringtrain::train {
namespace {

constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.pt";
constexpr const char* kRngFile = "rng.bin";

// Parameters and buffers by name; both are state that training changes.
io::NamedTensors modelState(torch::nn::Module& model) {
  io::NamedTensors tensors;
  for (const auto& item : model.named_parameters()) tensors.emplace_back(item.key(), item.value());
  for (const auto& item : model.named_buffers()) tensors.emplace_back(item.key(), item.value());
  return tensors;
}

const std::string& fileOf(const checkpoint::NamedBlobs& files, const std::string& name,
                          const std::string& origin) {
  for (const auto& [file, bytes] : files) {
    if (file == name) return bytes;
  }
  throw UserError("checkpoint " + origin + " has no " + name);
}

}  // namespace

checkpoint::NamedBlobs snapshotTraining(torch::nn::Module& model,
                                        torch::optim::Optimizer& optimizer) {
  io::NamedTensors tensors;
  for (auto& [name, tensor] : modelState(model)) {
    tensors.emplace_back(name, tensor.detach().to(at::kCPU));
  }
  at::Tensor rngState;
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    rngState = generator.get_state();
  }
  return {{kModelFile, io::encodeSafetensors(tensors, {{"producer", "ringtrain checkpoint"}})},
          {kOptimizerFile, optimizerBytes(optimizer)},
          {kRngFile, std::string(static_cast<const char*>(rngState.data_ptr()),
                                 static_cast<size_t>(rngState.numel()))}};
}

void restoreTraining(const checkpoint::NamedBlobs& files, const std::string& origin,
                     torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     std::optional<c10::Device> optimizerDevice) {
  std::map<std::string, at::Tensor> stored;
  for (auto& [name, tensor] :
       io::decodeSafetensors(fileOf(files, kModelFile, origin), origin + "/" + kModelFile)) {
    stored.emplace(name, std::move(tensor));
  }
  {
    c10::NoGradGuard noGrad;
    for (auto& [name, tensor] : modelState(model)) {
      const auto found = stored.find(name);
      RINGTRAIN_USER_CHECK(found != stored.end(), "checkpoint " << origin << " has no tensor '"
                                                                << name
                                                                << "' (a different model?)");
      RINGTRAIN_USER_CHECK(found->second.sizes() == tensor.sizes() &&
                               found->second.scalar_type() == tensor.scalar_type(),
                           "checkpoint " << origin << ": tensor '" << name
                                         << "' does not fit the model (a different model?)");
      tensor.copy_(found->second);
    }
  }

  try {
    // Onto this rank's device: the state was saved from rank 0's (or from a CPU run).
    const auto parameters = model.parameters();
    const c10::Device fallback =
        parameters.empty() ? c10::Device(c10::kCPU) : parameters.front().device();
    loadOptimizerBytes(optimizer, fileOf(files, kOptimizerFile, origin),
                       optimizerDevice.value_or(fallback));
  } catch (const c10::Error& error) {
    throw UserError(
        "checkpoint " + origin + ": cannot load " + kOptimizerFile +
        " into this optimizer (another --optimizer or model?): " + error.what_without_backtrace());
  }

  const std::string& rng = fileOf(files, kRngFile, origin);
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  at::Tensor state = at::empty({static_cast<int64_t>(rng.size())}, at::kByte);
  std::memcpy(state.data_ptr(), rng.data(), rng.size());
  try {
    generator.set_state(state);
  } catch (const c10::Error& error) {
    throw UserError("checkpoint " + origin + ": " + kRngFile +
                    " is not a generator state: " + error.what_without_backtrace());
  }
}

}  // namespace ringtrain::train
