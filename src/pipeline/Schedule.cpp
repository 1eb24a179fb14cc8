#include "pipeline/Schedule.h"

#include <algorithm>

#include "ringtrain/util/Error.h"

namespace ringtrain::pipeline {
namespace {

Action compute(Action::Type type, int microBatch) {
  Action action{type};
  action.microBatch = microBatch;
  return action;
}

Action send(int peer, Payload payload, int microBatch) {
  Action action{Action::Type::kSend};
  action.peer = peer;
  action.sent = {payload, microBatch};
  return action;
}

Action receive(int peer, Payload payload, int microBatch) {
  Action action{Action::Type::kReceive};
  action.peer = peer;
  action.received = {payload, microBatch};
  return action;
}

Action exchange(int peer, Message sent, Message received) {
  Action action{Action::Type::kExchange};
  action.peer = peer;
  action.sent = sent;
  action.received = received;
  return action;
}

// Builds one stage's list: the activations a forward needs arrive just before it, and what a
// computation produces leaves just after it, merged with the next receive from the same peer.
class StageBuilder {
 public:
  StageBuilder(int stage, int stages) : stage_(stage), last_(stage == stages - 1) {}

  void forward(int microBatch) {
    if (stage_ > 0) takeOrReceive({Payload::kActivation, microBatch}, stage_ - 1);
    flushPendingSend();
    actions_.push_back(compute(Action::Type::kForward, microBatch));
    if (!last_) pending_ = send(stage_ + 1, Payload::kActivation, microBatch);
  }

  void backward(int microBatch) {
    if (!last_) takeOrReceive({Payload::kGradient, microBatch}, stage_ + 1);
    flushPendingSend();
    actions_.push_back(compute(Action::Type::kBackward, microBatch));
    if (stage_ > 0) pending_ = send(stage_ - 1, Payload::kGradient, microBatch);
  }

  StageSchedule finish() {
    flushPendingSend();
    return std::move(actions_);
  }

 private:
  // A receive from the peer the pending send goes to joins it in one exchange.
  void takeOrReceive(Message message, int from) {
    if (pending_.type == Action::Type::kSend && pending_.peer == from) {
      actions_.push_back(exchange(from, pending_.sent, message));
      pending_ = Action{Action::Type::kForward};  // nothing pending
      return;
    }
    flushPendingSend();
    actions_.push_back(receive(from, message.payload, message.microBatch));
  }
  void flushPendingSend() {
    if (pending_.type == Action::Type::kSend) actions_.push_back(pending_);
    pending_ = Action{Action::Type::kForward};
  }

  int stage_;
  bool last_;
  Action pending_{Action::Type::kForward};  // a send not yet written (kForward: none)
  StageSchedule actions_;
};

}  // namespace

std::string scheduleName(ScheduleKind kind) {
  return kind == ScheduleKind::kGpipe ? "gpipe" : "1f1b";
}

ScheduleKind parseScheduleKind(const std::string& flag, const std::string& text) {
  if (text == "gpipe") return ScheduleKind::kGpipe;
  if (text == "1f1b") return ScheduleKind::k1f1b;
  throw UserError("--" + flag + " must be gpipe or 1f1b, got '" + text + "'");
}

std::string describe(const Action& action) {
  const auto message = [](const Message& m) {
    return std::string(m.payload == Payload::kActivation ? "activation " : "gradient ") +
           std::to_string(m.microBatch);
  };
  switch (action.type) {
    case Action::Type::kForward:
      return "F" + std::to_string(action.microBatch);
    case Action::Type::kBackward:
      return "B" + std::to_string(action.microBatch);
    case Action::Type::kSend:
      return "send " + message(action.sent) + " to stage " + std::to_string(action.peer);
    case Action::Type::kReceive:
      return "receive " + message(action.received) + " from stage " + std::to_string(action.peer);
    case Action::Type::kExchange:
      return "send " + message(action.sent) + " to and receive " + message(action.received) +
             " from stage " + std::to_string(action.peer);
  }
  return "?";
}

std::vector<StageSchedule> makeSchedule(ScheduleKind kind, int stages, int microBatches) {
  RINGTRAIN_CHECK(stages >= 1 && microBatches >= 1,
                  "a schedule needs at least one stage and one micro-batch");
  std::vector<StageSchedule> schedules;
  for (int stage = 0; stage < stages; ++stage) {
    StageBuilder builder(stage, stages);
    if (kind == ScheduleKind::kGpipe) {
      for (int m = 0; m < microBatches; ++m) builder.forward(m);
      for (int m = 0; m < microBatches; ++m) builder.backward(m);
    } else {
      const int warmup = std::min(stages - stage - 1, microBatches);
      int nextForward = 0;
      int nextBackward = 0;
      while (nextForward < warmup) builder.forward(nextForward++);
      while (nextForward < microBatches) {
        builder.forward(nextForward++);
        builder.backward(nextBackward++);
      }
      while (nextBackward < microBatches) builder.backward(nextBackward++);
    }
    schedules.push_back(builder.finish());
  }
  return schedules;
}

}  // namespace ringtrain::pipeline
