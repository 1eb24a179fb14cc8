#include "ringtrain/pipeline/Stage.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <map>

#include "ringtrain/util/Error.h"

namespace ringtrain::pipeline {
namespace {

std::vector<int64_t> withBatch(int64_t batch, const std::vector<int64_t>& sample) {
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), sample.begin(), sample.end());
  return shape;
}

// What one micro-batch leaves on this stage between its forward and its backward.
struct Held {
  at::Tensor input;   // a leaf that requires grad (stages after the first)
  at::Tensor output;  // the stage's output, or on the last stage the loss
};

}  // namespace

std::vector<std::vector<int64_t>> boundaryShapes(const std::vector<models::Layer>& layers,
                                                 const std::vector<int64_t>& sampleShape,
                                                 const at::TensorOptions& options) {
  at::NoGradGuard noGrad;
  std::vector<std::vector<int64_t>> shapes;
  at::Tensor x = at::zeros(withBatch(1, sampleShape), options);
  for (const models::Layer& layer : layers) {
    x = layer.forward(x);
    shapes.emplace_back(x.sizes().begin() + 1, x.sizes().end());
  }
  return shapes;
}

PipelineStage::PipelineStage(std::vector<models::Layer> layers, int stage, int stages,
                             std::vector<int64_t> inputShape, std::vector<int64_t> outputShape,
                             comm::Communicator& pipe)
    : layers_(std::move(layers)),
      stage_(stage),
      stages_(stages),
      inputShape_(std::move(inputShape)),
      outputShape_(std::move(outputShape)),
      pipe_(pipe) {
  RINGTRAIN_CHECK(!layers_.empty(), "pipeline stage " << stage << " has no layers");
  RINGTRAIN_CHECK(pipe_.size() == stages && pipe_.rank() == stage,
                  "stage " << stage << " of " << stages << " sits at rank " << pipe_.rank()
                           << " of a pipeline communicator of " << pipe_.size());
}

ddp::NamedParameters PipelineStage::parameters() const {
  ddp::NamedParameters named;
  for (const models::Layer& layer : layers_) {
    if (!layer.module) continue;
    for (const auto& item : layer.module->named_parameters()) {
      named.emplace_back(layer.name + "." + item.key(), item.value());
    }
  }
  return named;
}

at::Tensor PipelineStage::forward(const at::Tensor& input) const {
  at::Tensor x = input;
  for (const models::Layer& layer : layers_) x = layer.forward(x);
  return x;
}

StageStep PipelineStage::run(const StageSchedule& schedule, int64_t microBatchSize,
                             const std::vector<at::Tensor>& inputs,
                             const std::vector<at::Tensor>& targets, const LossFunction& loss,
                             const std::function<void(bool)>& beforeBackward) {
  int backwardsLeft = 0;
  for (const Action& action : schedule) backwardsLeft += action.type == Action::Type::kBackward;
  RINGTRAIN_CHECK(!first() || static_cast<int>(inputs.size()) == backwardsLeft,
                  "the first stage needs one input per micro-batch");
  RINGTRAIN_CHECK(!last() || static_cast<int>(targets.size()) == backwardsLeft,
                  "the last stage needs one target per micro-batch");
  const ddp::NamedParameters named = parameters();
  const at::TensorOptions options =
      (named.empty() ? at::TensorOptions() : named.front().second.options()).requires_grad(false);

  StageStep step;
  std::map<int, Held> held;
  std::map<int, at::Tensor> arrived;       // activations received, not yet forwarded
  std::map<int, at::Tensor> gradients;     // gradients received, not yet backwarded
  std::map<int, at::Tensor> gradientsOut;  // input gradients computed, not yet sent
  const auto bufferFor = [&](const Message& message) {
    const auto& sample = message.payload == Payload::kActivation ? inputShape_ : outputShape_;
    return at::empty(withBatch(microBatchSize, sample), options);
  };
  const auto outgoing = [&](const Message& message) {
    if (message.payload == Payload::kActivation) {
      return held.at(message.microBatch).output.detach().contiguous();
    }
    at::Tensor gradient = gradientsOut.at(message.microBatch);
    gradientsOut.erase(message.microBatch);
    return gradient;
  };
  const auto landed = [&](const Message& message, at::Tensor tensor) {
    (message.payload == Payload::kActivation ? arrived : gradients)[message.microBatch] =
        std::move(tensor);
  };

  for (const Action& action : schedule) {
    switch (action.type) {
      case Action::Type::kForward: {
        const int m = action.microBatch;
        Held entry;
        if (first()) {
          entry.input = inputs.at(m);
        } else {
          entry.input = arrived.at(m).requires_grad_(true);
          arrived.erase(m);
        }
        at::Tensor output = forward(entry.input);
        RINGTRAIN_CHECK(last() || output.sizes().slice(1).vec() == outputShape_,
                        "stage " << stage_ << " produced activations of shape " << output.sizes()
                                 << " for micro-batch " << m << ", not the agreed one");
        if (last()) {
          entry.output = loss(output, targets.at(m));
          step.loss += entry.output.detach().item<double>();
        } else {
          entry.output = output;
        }
        held.emplace(m, std::move(entry));
        step.maxActivationsHeld = std::max(step.maxActivationsHeld, static_cast<int>(held.size()));
        break;
      }
      case Action::Type::kBackward: {
        const int m = action.microBatch;
        Held entry = std::move(held.at(m));
        held.erase(m);
        beforeBackward(--backwardsLeft == 0);
        if (last()) {
          entry.output.backward();
        } else {
          torch::autograd::backward({entry.output}, {gradients.at(m)});
          gradients.erase(m);
        }
        if (!first()) gradientsOut[m] = entry.input.grad().contiguous();
        break;
      }
      case Action::Type::kSend:
        pipe_.send(outgoing(action.sent), action.peer);
        break;
      case Action::Type::kReceive: {
        at::Tensor buffer = bufferFor(action.received);
        pipe_.recv(buffer, action.peer);
        landed(action.received, std::move(buffer));
        break;
      }
      case Action::Type::kExchange: {
        const at::Tensor sent = outgoing(action.sent);
        at::Tensor buffer = bufferFor(action.received);
        pipe_.startSendRecv(sent, action.peer, buffer, action.peer)->wait();
        landed(action.received, std::move(buffer));
        break;
      }
    }
  }
  RINGTRAIN_CHECK(held.empty() && arrived.empty() && gradients.empty() && gradientsOut.empty(),
                  "stage " << stage_ << ": the schedule left micro-batches unfinished");
  return step;
}

}  // namespace ringtrain::pipeline
