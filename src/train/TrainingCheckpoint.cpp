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

const std::string* findFile(const checkpoint::NamedBlobs& files, const std::string& name) {
  for (const auto& [file, bytes] : files) {
    if (file == name) return &bytes;
  }
  return nullptr;
}

const std::string& fileOf(const checkpoint::NamedBlobs& files, const std::string& name,
                          const std::string& origin) {
  const std::string* bytes = findFile(files, name);
  if (!bytes) throw UserError("checkpoint " + origin + " has no " + name);
  return *bytes;
}

// model.safetensors, then the optimizer's state as `optimizerFile`, then rng.bin.
void writeFiles(checkpoint::CheckpointWriter& writer, torch::nn::Module& model,
                const char* optimizerFile,
                const std::function<void(const ByteSink&)>& writeOptimizerState) {
  const ByteSink sink = [&](const void* data, size_t size) { writer.append(data, size); };
  // Failures wait for commit: in a sharded run the other ranks are about to send their pieces.
  writer.beginFile(kModelFile);
  writer.run([&] {
    io::streamSafetensors(modelState(model), {{"producer", "ringtrain checkpoint"}}, sink);
  });
  writer.beginFile(optimizerFile);
  writeOptimizerState(sink);
  writer.beginFile(kRngFile);
  writer.run([&] {
    at::Tensor rngState;
    {
      auto generator = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(generator.mutex());
      rngState = generator.get_state();
    }
    sink(rngState.const_data_ptr(), static_cast<size_t>(rngState.numel()));
  });
}

}  // namespace

void writeTraining(checkpoint::CheckpointWriter& writer, torch::nn::Module& model,
                   const std::function<void(const ByteSink&)>& writeOptimizerState) {
  writeFiles(writer, model, kOptimizerStateFile, writeOptimizerState);
}

void writeTraining(checkpoint::CheckpointWriter& writer, torch::nn::Module& model,
                   torch::optim::Optimizer& optimizer) {
  if (fitsStateFile(optimizer, model)) {
    writeTraining(writer, model,
                  [&](const ByteSink& sink) { streamOptimizerState(optimizer, model, sink); });
    return;
  }
  // LibTorch's archive, made whole in memory.
  writeFiles(writer, model, kOptimizerFile, [&](const ByteSink& sink) {
    const std::string bytes = optimizerBytes(optimizer);
    sink(bytes.data(), bytes.size());
  });
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
    const c10::Device device = optimizerDevice.value_or(fallback);
    if (const std::string* state = findFile(files, kOptimizerStateFile)) {
      loadOptimizerState(optimizer, model, *state, origin + "/" + kOptimizerStateFile, device);
    } else {
      // LibTorch's archive carries the settings too; the run that resumes keeps its own, as with
      // optimizer.safetensors.
      std::vector<std::unique_ptr<torch::optim::OptimizerOptions>> settings;
      for (const auto& group : optimizer.param_groups()) {
        settings.push_back(group.options().clone());
      }
      loadOptimizerBytes(optimizer, fileOf(files, kOptimizerFile, origin), device);
      for (size_t g = 0; g < settings.size(); ++g) {
        optimizer.param_groups()[g].set_options(std::move(settings[g]));
      }
    }
  } catch (const c10::Error& error) {
    throw UserError(
        "checkpoint " + origin +
        ": cannot load the optimizer state into this optimizer (another --optimizer or model?): " +
        error.what_without_backtrace());
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
