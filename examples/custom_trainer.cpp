// Your model, loss and metric inside ringtrain's trainer: flags as `ringtrain train` takes them
// (e.g. --train, --epochs, --pipeline-stages, --checkpoint-every, --comm-timeout), outputs as it
// writes them, and a stop signal (SIGTERM) ends it at a checkpoint as it ends `ringtrain train`.
//   mpirun -np 2 custom_trainer --train synthetic:4000 --epochs 2 --output-dir runs/custom
#include <ringtrain/ringtrain.h>
#include <torch/torch.h>

#include <iostream>

namespace {

// Two layers the trainer sees as pipeline units: a Classifier lists its layers in order.
class WideAndDeep : public ringtrain::models::Classifier {
 public:
  WideAndDeep(int64_t inputs, int64_t classes)
      : deep_(register_module("deep", torch::nn::Linear(inputs, 96))),
        head_(register_module("head", torch::nn::Linear(96 + inputs, classes))) {
    addLayer({"deep", deep_.ptr(), [this](const at::Tensor& x) {
                const at::Tensor flat = x.flatten(1);
                return torch::cat({torch::gelu(deep_->forward(flat)), flat}, 1);
              }});
    addLayer({"head", head_.ptr(), [this](const at::Tensor& x) { return head_->forward(x); }});
  }

 private:
  torch::nn::Linear deep_, head_;
};

}  // namespace

int main(int argc, char** argv) {
  // Every rank parses the same flags, so a bad one stops them all alike, before MPI starts.
  ringtrain::train::TrainOptions options;
  try {
    options = ringtrain::train::parseTrainOptions(argc, argv);
  } catch (const ringtrain::UserError& error) {
    std::cerr << "custom_trainer: error: " << error.what() << "\n";
    return 2;
  }
  if (options.help) {
    std::cout << options.helpText;
    return 0;
  }
  const ringtrain::train::TrainConfig& config = options.config;
  ringtrain::train::TrainHooks hooks;
  hooks.makeModel = [](const ringtrain::models::ModelSpec& data) {
    int64_t inputs = 1;
    for (const int64_t extent : data.inputShape) inputs *= extent;
    return std::make_shared<WideAndDeep>(inputs, data.numClasses);
  };
  // Cross-entropy with label smoothing, and the top-2 accuracy as an extra validation metric.
  hooks.loss = [](const at::Tensor& logits, const at::Tensor& labels) {
    return torch::nn::functional::cross_entropy(
        logits, labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(0.1));
  };
  hooks.metrics.emplace_back("top2_accuracy",
                             [](const at::Tensor& logits, const at::Tensor& labels) {
                               const at::Tensor top2 = std::get<1>(logits.topk(2, 1));
                               return top2.eq(labels.unsqueeze(1)).any(1).sum().to(at::kDouble);
                             });
  try {
    // Collective: every rank fails alike (CollectiveFailure) where the options cannot be met.
    ringtrain::Runtime runtime(argc, argv,
                               {config.device, config.backend, config.threads,
                                config.commTimeoutSeconds, config.heartbeatTimeoutSeconds});
    const ringtrain::train::RunSummary summary =
        ringtrain::train::runTraining(runtime, config, hooks);
    if (runtime.isRankZero()) {
      std::cout << "custom_trainer: steps=" << summary.steps
                << " val_accuracy=" << summary.valAccuracy << std::endl;
    }
  } catch (const ringtrain::comm::CollectiveFailure& failure) {
    if (failure.reporter()) std::cerr << "custom_trainer: error: " << failure.what() << "\n";
    return failure.exitCode();
  } catch (const ringtrain::UserError& error) {  // alike on every rank: the options themselves
    std::cerr << "custom_trainer: error: " << error.what() << "\n";
    return 2;
  }
  return 0;
}
