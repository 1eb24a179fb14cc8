// One pipeline stage at run time: a contiguous run of a model's layers, driven through one
// optimizer step by its StageSchedule. Activations arrive from the previous stage and leave for
// the next one through the pipeline communicator (whose rank i holds stage i), and their gradients
// travel back the same way; the last stage turns its outputs into losses.
//
// Every message has a shape fixed before the first step (boundaryShapes: every rank derives them
// from the same model, so they agree without being exchanged), and receive buffers are allocated
// to it, so a neighbour that sends something else is a transport error, never a silent mix-up.
// With message checks on, every message carries a header (MessageHeader.h) that the receiver
// compares with what it expected, so that a disagreement that happens to have the right size in
// bytes (another shape, micro-batch or step) is an error too.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <vector>

#include "ddp/ParameterSync.h"
#include "pipeline/Schedule.h"
#include "ringtrain/comm/Communicator.h"
#include "ringtrain/models/Model.h"

namespace ringtrain::pipeline {

// The shape of one sample after each layer of `layers`, from a forward pass of one sample of
// `sampleShape` (without gradients).
std::vector<std::vector<int64_t>> boundaryShapes(const std::vector<models::Layer>& layers,
                                                 const std::vector<int64_t>& sampleShape,
                                                 const at::TensorOptions& options);

// The parameters (or the buffers) of `layers`, named as in the whole model, in layer order.
ddp::NamedParameters namedTensorsOf(const std::vector<models::Layer>& layers, bool buffers);

// What the last stage makes of one micro-batch's output: the loss to backpropagate, already scaled
// (e.g. summed over the micro-batch and divided by the samples in the step).
using LossFunction = std::function<at::Tensor(const at::Tensor& output, const at::Tensor& target)>;

struct StageStep {
  double loss = 0;             // the sum of the micro-batch losses (last stage; 0 elsewhere)
  int maxActivationsHeld = 0;  // micro-batches forwarded and not yet backwarded, at most
  double seconds = 0;          // the whole step
  double computeSeconds = 0;   // in forwards and backwards (on GPUs: launching them)
  double waitSeconds = 0;      // in receives and exchanges: waiting for a neighbour
};

class PipelineStage {
 public:
  // `layers`: this stage's layers; `inputShape` / `outputShape`: one sample's shape going in and
  // coming out; `pipe`: the pipeline communicator, rank = stage.
  PipelineStage(std::vector<models::Layer> layers, int stage, int stages,
                std::vector<int64_t> inputShape, std::vector<int64_t> outputShape,
                comm::Communicator& pipe, bool checkMessages = false);

  int stage() const { return stage_; }
  bool first() const { return stage_ == 0; }
  bool last() const { return stage_ == stages_ - 1; }
  // This stage's parameters, named as in the whole model.
  ddp::NamedParameters parameters() const;
  // This stage's buffers (BatchNorm's running statistics), named as in the whole model.
  ddp::NamedParameters buffers() const;

  // Runs `schedule` over the micro-batches of one step, each of `microBatchSize` samples.
  // `inputs` (first stage) and `targets` (last stage) hold one tensor per micro-batch; other
  // stages pass empty lists. `beforeBackward(last)` runs before each backward, `last` for the
  // step's final one (where a reducer synchronises).
  StageStep run(const StageSchedule& schedule, int64_t microBatchSize,
                const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& targets,
                const LossFunction& loss, const std::function<void(bool)>& beforeBackward);

  // A forward pass without gradients of one batch of `batchSize` samples through the whole
  // pipeline, for evaluation: the first stage passes `input` (others an undefined tensor); the
  // last stage returns the model's output, the others an undefined tensor.
  at::Tensor forwardOnly(const at::Tensor& input, int64_t batchSize);

 private:
  at::Tensor forward(const at::Tensor& input) const;
  // Over a communicator with asynchronous point-to-point transfers, sends return at once and
  // complete while the stage works on (finishSends() waits for them), and receives are posted
  // ahead; elsewhere sends block and an exchange is one startSendRecv.
  void send(const Message& message, const at::Tensor& tensor, int peer);
  void exchange(const Message& sent, const at::Tensor& outgoing, const Message& received,
                at::Tensor& buffer, int peer);
  void finishSends();
  void abandonSends();
  void receive(const Message& message, at::Tensor& buffer, int peer);
  at::Tensor framed(const Message& message, const at::Tensor& payload) const;
  at::Tensor frameFor(const at::Tensor& buffer) const;
  void unframe(const Message& message, const at::Tensor& frame, at::Tensor& buffer, int peer) const;

  std::vector<models::Layer> layers_;
  int stage_;
  int stages_;
  std::vector<int64_t> inputShape_;
  std::vector<int64_t> outputShape_;
  comm::Communicator& pipe_;
  bool checkMessages_;
  bool asynchronous_;
  at::TensorOptions bufferOptions_;
  struct Sending {
    at::Tensor tensor;  // alive until sent
    std::unique_ptr<comm::PendingTransfer> transfer;
  };
  std::vector<Sending> sending_;
  int64_t steps_ = 0;  // run() calls so far, evaluation passes included: what headers number
};

}  // namespace ringtrain::pipeline
