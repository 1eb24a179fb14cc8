#include "pipeline/Stage.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>

#include "health/Progress.h"
#include "pipeline/MessageHeader.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::pipeline {
namespace {

std::vector<int64_t> withBatch(int64_t batch, const std::vector<int64_t>& sample) {
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), sample.begin(), sample.end());
  return shape;
}

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// What one micro-batch leaves on this stage between its forward and its backward.
struct Held {
  at::Tensor input;   // a leaf that requires grad (stages after the first)
  at::Tensor output;  // the stage's output, or on the last stage the loss
};

// After an error a neighbour may never complete what was started with it, and waiting would keep
// the rank from reporting the error; the transfer and its buffer are left for the end of the
// process, which the error brings.
void abandon(std::unique_ptr<comm::PendingTransfer> transfer, at::Tensor buffer) {
  static auto* const kept = new std::vector<at::Tensor>();
  kept->push_back(std::move(buffer));
  (void)transfer.release();
}

// Receives posted as early as they can be: the next message a neighbour sends is awaited as soon
// as the one before it has landed, so that it is matched the moment it is sent. A neighbour sends
// in the order this stage's schedule receives, so the receives from each neighbour are posted in
// schedule order.
class Inbox {
 public:
  using Allocate = std::function<at::Tensor(const Message&)>;

  Inbox(const StageSchedule& schedule, comm::Communicator& pipe, Allocate allocate)
      : pipe_(pipe), allocate_(std::move(allocate)) {
    for (const Action& action : schedule) {
      if (action.receives()) upcoming_[action.peer].push_back(action.received);
    }
    for (const auto& [peer, messages] : upcoming_) post(peer);
  }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;
  ~Inbox() {
    for (auto& [peer, posted] : posted_) abandon(std::move(posted.transfer), posted.buffer);
  }

  // Waits for `message` from `peer` and returns the tensor it landed in.
  at::Tensor take(const Message& message, int peer) {
    auto found = posted_.find(peer);
    RINGTRAIN_CHECK(found != posted_.end() && found->second.message.payload == message.payload &&
                        found->second.message.microBatch == message.microBatch,
                    "no receive was posted for "
                        << (message.payload == Payload::kActivation ? "activation" : "gradient")
                        << " " << message.microBatch << " from stage " << peer);
    Posted posted = std::move(found->second);
    posted_.erase(found);
    posted.transfer->wait();
    post(peer);
    return posted.buffer;
  }

 private:
  struct Posted {
    Message message;
    at::Tensor buffer;
    std::unique_ptr<comm::PendingTransfer> transfer;
  };

  void post(int peer) {
    std::deque<Message>& queue = upcoming_[peer];
    if (queue.empty()) return;
    Posted posted{queue.front(), allocate_(queue.front()), nullptr};
    queue.pop_front();
    posted.transfer = pipe_.startRecv(posted.buffer, peer);
    posted_.emplace(peer, std::move(posted));
  }

  comm::Communicator& pipe_;
  Allocate allocate_;
  std::map<int, std::deque<Message>> upcoming_;
  std::map<int, Posted> posted_;
};

}  // namespace

ddp::NamedParameters namedTensorsOf(const std::vector<models::Layer>& layers, bool buffers) {
  ddp::NamedParameters named;
  for (const models::Layer& layer : layers) {
    if (!layer.module) continue;
    const auto items = buffers ? layer.module->named_buffers() : layer.module->named_parameters();
    for (const auto& item : items) named.emplace_back(layer.name + "." + item.key(), item.value());
  }
  return named;
}

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
                             comm::Communicator& pipe, bool checkMessages)
    : layers_(std::move(layers)),
      stage_(stage),
      stages_(stages),
      inputShape_(std::move(inputShape)),
      outputShape_(std::move(outputShape)),
      pipe_(pipe),
      checkMessages_(checkMessages),
      asynchronous_(pipe.asynchronousPointToPoint()) {
  RINGTRAIN_CHECK(!layers_.empty(), "pipeline stage " << stage << " has no layers");
  RINGTRAIN_CHECK(pipe_.size() == stages && pipe_.rank() == stage,
                  "stage " << stage << " of " << stages << " sits at rank " << pipe_.rank()
                           << " of a pipeline communicator of " << pipe_.size());
  const ddp::NamedParameters named = parameters();
  // Messages travel in the parameters' dtype and on their device.
  if (!named.empty()) bufferOptions_ = named.front().second.options().requires_grad(false);
}

ddp::NamedParameters PipelineStage::parameters() const {
  return namedTensorsOf(layers_, false);
}

ddp::NamedParameters PipelineStage::buffers() const {
  return namedTensorsOf(layers_, true);
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
  const auto start = Clock::now();
  finishSends();  // an evaluation's last output
  ++steps_;
  int backwardsLeft = 0;
  for (const Action& action : schedule) backwardsLeft += action.type == Action::Type::kBackward;
  RINGTRAIN_CHECK(!first() || static_cast<int>(inputs.size()) == backwardsLeft,
                  "the first stage needs one input per micro-batch");
  RINGTRAIN_CHECK(!last() || static_cast<int>(targets.size()) == backwardsLeft,
                  "the last stage needs one target per micro-batch");
  StageStep step;
  std::map<int, Held> held;
  std::map<int, at::Tensor> arrived;       // activations received, not yet forwarded
  std::map<int, at::Tensor> gradients;     // gradients received, not yet backwarded
  std::map<int, at::Tensor> gradientsOut;  // input gradients computed, not yet sent
  const auto bufferFor = [&](const Message& message) {
    const auto& sample = message.payload == Payload::kActivation ? inputShape_ : outputShape_;
    return at::empty(withBatch(microBatchSize, sample), bufferOptions_);
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
  std::optional<Inbox> inbox;
  if (asynchronous_) {
    inbox.emplace(schedule, pipe_, [&](const Message& message) {
      const at::Tensor buffer = bufferFor(message);
      return checkMessages_ ? frameFor(buffer) : buffer;
    });
  }
  // A message the schedule receives: from the inbox's early receive, or received now.
  const auto arrive = [&](const Message& message, int peer) {
    const auto waitStart = Clock::now();
    at::Tensor buffer;
    if (inbox) {
      at::Tensor frame = inbox->take(message, peer);
      if (checkMessages_) {
        buffer = bufferFor(message);
        unframe(message, frame, buffer, peer);
      } else {
        buffer = frame;
      }
    } else {
      buffer = bufferFor(message);
      receive(message, buffer, peer);
    }
    step.waitSeconds += secondsSince(waitStart);
    landed(message, std::move(buffer));
  };

  try {
    for (const Action& action : schedule) {
      switch (action.type) {
        case Action::Type::kForward: {
          health::markPhase(health::Phase::kForward);
          const auto computeStart = Clock::now();
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
            // Autocast may have produced a narrower type than the messages carry; the cast is
            // part of the graph, so the gradient that comes back is cast back too.
            entry.output = output.to(bufferOptions_.dtype());
          }
          held.emplace(m, std::move(entry));
          step.maxActivationsHeld =
              std::max(step.maxActivationsHeld, static_cast<int>(held.size()));
          step.computeSeconds += secondsSince(computeStart);
          break;
        }
        case Action::Type::kBackward: {
          health::markPhase(health::Phase::kBackward);
          const auto computeStart = Clock::now();
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
          step.computeSeconds += secondsSince(computeStart);
          break;
        }
        case Action::Type::kSend:
          send(action.sent, outgoing(action.sent), action.peer);
          break;
        case Action::Type::kReceive:
          arrive(action.received, action.peer);
          break;
        case Action::Type::kExchange:
          if (asynchronous_) {
            // The send is under way before the wait for the receive starts.
            send(action.sent, outgoing(action.sent), action.peer);
            arrive(action.received, action.peer);
          } else {
            const at::Tensor sent = outgoing(action.sent);
            at::Tensor buffer = bufferFor(action.received);
            const auto waitStart = Clock::now();
            exchange(action.sent, sent, action.received, buffer, action.peer);
            step.waitSeconds += secondsSince(waitStart);
            landed(action.received, std::move(buffer));
          }
          break;
      }
    }
  } catch (...) {
    abandonSends();
    throw;
  }
  RINGTRAIN_CHECK(held.empty() && arrived.empty() && gradients.empty() && gradientsOut.empty(),
                  "stage " << stage_ << ": the schedule left micro-batches unfinished");
  const auto waitStart = Clock::now();
  finishSends();
  step.waitSeconds += secondsSince(waitStart);
  step.seconds = secondsSince(start);
  return step;
}

at::Tensor PipelineStage::forwardOnly(const at::Tensor& input, int64_t batchSize) {
  at::NoGradGuard noGrad;
  // The previous batch's output may still be on its way; one batch ahead is enough.
  finishSends();
  ++steps_;
  const Message message{Payload::kActivation, 0};
  at::Tensor x = input;
  if (!first()) {
    x = at::empty(withBatch(batchSize, inputShape_), bufferOptions_);
    receive(message, x, stage_ - 1);
  }
  at::Tensor output = forward(x);
  if (last()) return output;
  send(message, output.to(bufferOptions_.dtype()).contiguous(), stage_ + 1);
  return {};
}

// With checks on, a message travels as one transfer of bytes: its header, then its payload.
// One transfer, so that it pairs with the neighbour's receive exactly as the payload alone would.
at::Tensor PipelineStage::framed(const Message& message, const at::Tensor& payload) const {
  const at::Tensor header = encodeHeader(MessageHeader::of(steps_, message, payload));
  return at::cat({header.to(payload.device()).view(at::kByte),
                  payload.contiguous().view({-1}).view(at::kByte)});
}

at::Tensor PipelineStage::frameFor(const at::Tensor& buffer) const {
  return at::empty({kHeaderWords * 8 + static_cast<int64_t>(buffer.nbytes())},
                   buffer.options().dtype(at::kByte));
}

void PipelineStage::unframe(const Message& message, const at::Tensor& frame, at::Tensor& buffer,
                            int peer) const {
  const int64_t headerBytes = kHeaderWords * 8;
  const MessageHeader sent = decodeHeader(frame.slice(0, 0, headerBytes).view(at::kLong));
  const MessageHeader expected = MessageHeader::of(steps_, message, buffer);
  if (const auto problem = headerMismatch(peer, stage_, sent, expected)) throw UserError(*problem);
  buffer.view({-1}).view(at::kByte).copy_(frame.slice(0, headerBytes));
}

void PipelineStage::send(const Message& message, const at::Tensor& tensor, int peer) {
  at::Tensor outgoing = checkMessages_ ? framed(message, tensor) : tensor;
  if (!asynchronous_) {
    pipe_.send(outgoing, peer);
    return;
  }
  std::unique_ptr<comm::PendingTransfer> transfer = pipe_.startSend(outgoing, peer);
  sending_.push_back({std::move(outgoing), std::move(transfer)});
}

void PipelineStage::exchange(const Message& sent, const at::Tensor& outgoing,
                             const Message& received, at::Tensor& buffer, int peer) {
  if (!checkMessages_) {
    pipe_.startSendRecv(outgoing, peer, buffer, peer)->wait();
    return;
  }
  at::Tensor frame = frameFor(buffer);
  pipe_.startSendRecv(framed(sent, outgoing), peer, frame, peer)->wait();
  unframe(received, frame, buffer, peer);
}

void PipelineStage::abandonSends() {
  for (Sending& pending : sending_) abandon(std::move(pending.transfer), pending.tensor);
  sending_.clear();
}

void PipelineStage::finishSends() {
  for (Sending& pending : sending_) pending.transfer->wait();
  sending_.clear();
  // Blocking sends may still be queued on a device stream (NCCL): without this, the evaluation's
  // early stages would run ahead through every batch, each output kept until it is received.
  if (!asynchronous_) pipe_.synchronize();
}

void PipelineStage::receive(const Message& message, at::Tensor& buffer, int peer) {
  if (!checkMessages_) {
    pipe_.recv(buffer, peer);
    return;
  }
  at::Tensor frame = frameFor(buffer);
  pipe_.recv(frame, peer);
  unframe(message, frame, buffer, peer);
}

}  // namespace ringtrain::pipeline
