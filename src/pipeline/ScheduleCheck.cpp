#include "pipeline/ScheduleCheck.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <tuple>

namespace ringtrain::pipeline {
namespace {

// A transfer, named by its ends and what it carries.
struct Transfer {
  int from;
  int to;
  Payload payload;
  int microBatch;
  bool operator==(const Transfer& other) const {
    return std::tie(from, to, payload, microBatch) ==
           std::tie(other.from, other.to, other.payload, other.microBatch);
  }
  bool operator<(const Transfer& other) const {
    return std::tie(from, to, payload, microBatch) <
           std::tie(other.from, other.to, other.payload, other.microBatch);
  }
};

std::vector<Transfer> sendsOf(const Action& action, int stage) {
  if (!action.sends()) return {};
  return {{stage, action.peer, action.sent.payload, action.sent.microBatch}};
}

std::vector<Transfer> receivesOf(const Action& action, int stage) {
  if (!action.receives()) return {};
  return {{action.peer, stage, action.received.payload, action.received.microBatch}};
}

std::string where(int stage, const Action& action) {
  return "stage " + std::to_string(stage) + ": " + describe(action);
}

// The structural rules, stage by stage.
void checkStructure(const std::vector<StageSchedule>& schedules, int microBatches,
                    std::vector<std::string>& problems) {
  const int stages = static_cast<int>(schedules.size());
  std::map<Transfer, int> sent;
  std::map<Transfer, int> received;
  for (int s = 0; s < stages; ++s) {
    std::vector<int> forwards(microBatches, 0), backwards(microBatches, 0);
    std::vector<char> activationIn(microBatches, s == 0), gradientIn(microBatches, s == stages - 1);
    for (const Action& action : schedules[s]) {
      const auto problem = [&](const std::string& what) {
        problems.push_back(where(s, action) + ": " + what);
      };
      if (action.computes()) {
        if (action.microBatch < 0 || action.microBatch >= microBatches) {
          problem("no such micro-batch");
          continue;
        }
        const int m = action.microBatch;
        if (action.type == Action::Type::kForward) {
          if (!activationIn[m]) problem("before its activation arrived");
          ++forwards[m];
        } else {
          if (forwards[m] == 0) problem("before F" + std::to_string(m));
          if (!gradientIn[m]) problem("before its gradient arrived");
          ++backwards[m];
        }
        continue;
      }
      if (action.peer != s - 1 && action.peer != s + 1) {
        problem("the peer is not a neighbouring stage");
        continue;
      }
      for (const Transfer& transfer : sendsOf(action, s)) {
        const bool forwardward = transfer.payload == Payload::kActivation;
        if (transfer.to != (forwardward ? s + 1 : s - 1)) problem("sent the wrong way");
        const int m = transfer.microBatch;
        if (m < 0 || m >= microBatches)
          problem("no such micro-batch");
        else if (forwardward ? forwards[m] == 0 : backwards[m] == 0)
          problem("sent before computed");
        ++sent[transfer];
      }
      for (const Transfer& transfer : receivesOf(action, s)) {
        const int m = transfer.microBatch;
        if (m < 0 || m >= microBatches) {
          problem("no such micro-batch");
        } else if (transfer.payload == Payload::kActivation) {
          activationIn[m] = 1;
        } else {
          gradientIn[m] = 1;
        }
        ++received[transfer];
      }
    }
    for (int m = 0; m < microBatches; ++m) {
      if (forwards[m] != 1 || backwards[m] != 1) {
        problems.push_back("stage " + std::to_string(s) + ": micro-batch " + std::to_string(m) +
                           " has " + std::to_string(forwards[m]) + " forward(s) and " +
                           std::to_string(backwards[m]) + " backward(s), not one each");
      }
    }
  }
  for (const auto& [transfer, count] : sent) {
    if (count != 1 || received[transfer] != 1) {
      problems.push_back("stage " + std::to_string(transfer.from) + " sends " +
                         (transfer.payload == Payload::kActivation ? "activation " : "gradient ") +
                         std::to_string(transfer.microBatch) + " " + std::to_string(count) +
                         " time(s), and stage " + std::to_string(transfer.to) + " receives it " +
                         std::to_string(received[transfer]) + " time(s)");
    }
  }
  for (const auto& [transfer, count] : received) {
    if (sent.count(transfer) == 0) {
      problems.push_back("stage " + std::to_string(transfer.to) + " waits for " +
                         (transfer.payload == Payload::kActivation ? "activation " : "gradient ") +
                         std::to_string(transfer.microBatch) + " that stage " +
                         std::to_string(transfer.from) + " never sends");
    }
  }
}

}  // namespace

double theoreticalBubble(int stages, int microBatches) {
  return static_cast<double>(stages - 1) / (microBatches + stages - 1);
}

ScheduleReport checkSchedule(const std::vector<StageSchedule>& schedules, int microBatches,
                             const StepCosts& costs) {
  ScheduleReport report;
  checkStructure(schedules, microBatches, report.problems);
  if (!report.sound()) return report;

  const int stages = static_cast<int>(schedules.size());
  std::vector<size_t> next(stages, 0);
  std::vector<double> clock(stages, 0);
  std::vector<int> inFlight(stages, 0);
  report.maxInFlight.assign(stages, 0);
  report.busyTime.assign(stages, 0);
  std::map<Transfer, double> completed;  // when each transfer finished
  // A transfer completes when the other end's current action holds it too.
  const auto partnerHolds = [&](const Transfer& transfer, bool weSend) {
    const int partner = weSend ? transfer.to : transfer.from;
    if (next[partner] >= schedules[partner].size()) return false;
    const Action& theirs = schedules[partner][next[partner]];
    const auto held = weSend ? receivesOf(theirs, partner) : sendsOf(theirs, partner);
    return std::find(held.begin(), held.end(), transfer) != held.end();
  };

  for (bool progressed = true; progressed;) {
    progressed = false;
    for (int s = 0; s < stages; ++s) {
      while (next[s] < schedules[s].size()) {
        const Action& action = schedules[s][next[s]];
        if (action.computes()) {
          const bool forward = action.type == Action::Type::kForward;
          const double cost = forward ? costs.forward : costs.backward;
          clock[s] += cost;
          report.busyTime[s] += cost;
          inFlight[s] += forward ? 1 : -1;
          report.maxInFlight[s] = std::max(report.maxInFlight[s], inFlight[s]);
          ++next[s];
          progressed = true;
          continue;
        }
        double finish = clock[s];
        bool done = true;
        std::vector<std::pair<Transfer, bool>> transfers;
        for (const Transfer& t : sendsOf(action, s)) transfers.push_back({t, true});
        for (const Transfer& t : receivesOf(action, s)) transfers.push_back({t, false});
        for (const auto& [transfer, weSend] : transfers) {
          auto found = completed.find(transfer);
          if (found == completed.end() && partnerHolds(transfer, weSend)) {
            const int partner = weSend ? transfer.to : transfer.from;
            found = completed.emplace(transfer, std::max(clock[s], clock[partner])).first;
          }
          if (found == completed.end()) {
            done = false;
          } else {
            finish = std::max(finish, found->second);
          }
        }
        if (!done) break;
        clock[s] = finish;
        ++next[s];
        progressed = true;
      }
    }
  }

  for (int s = 0; s < stages; ++s) {
    if (next[s] < schedules[s].size()) {
      report.deadlocked = true;
      report.problems.push_back("deadlock: " + where(s, schedules[s][next[s]]) + " waits forever");
    }
  }
  if (report.deadlocked) return report;
  report.stepTime = *std::max_element(clock.begin(), clock.end());
  double busy = 0;
  for (const double time : report.busyTime) busy += time;
  report.bubbleFraction = report.stepTime > 0 ? 1 - busy / (stages * report.stepTime) : 0;
  return report;
}

}  // namespace ringtrain::pipeline
