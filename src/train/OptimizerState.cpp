#include "train/OptimizerState.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <sstream>

namespace ringtrain::train {

std::string optimizerBytes(torch::optim::Optimizer& optimizer) {
  std::ostringstream bytes;
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archive.save_to(bytes);
  return bytes.str();
}

void loadOptimizerBytes(torch::optim::Optimizer& optimizer, const std::string& bytes,
                        c10::Device device) {
  std::istringstream stream(bytes);
  torch::serialize::InputArchive archive;
  archive.load_from(stream, device);
  optimizer.load(archive);
}

void copyParameterStates(const torch::optim::Optimizer& from, torch::optim::Optimizer& to,
                         const std::vector<at::Tensor>& parameters) {
  for (const at::Tensor& parameter : parameters) {
    void* key = parameter.unsafeGetTensorImpl();
    const auto found = from.state().find(key);
    if (found == from.state().end()) {
      to.state().erase(key);
    } else {
      to.state()[key] = found->second->clone();
    }
  }
}

}  // namespace ringtrain::train
