// Proves a pipeline schedule sound before any rank runs it, and measures it.
//
// Soundness: every stage runs F(m) and then B(m) once for every micro-batch; an activation arrives
// before the forward that needs it and a gradient before the backward; every message sent is
// received by the neighbour it is addressed to. Deadlock freedom under the strictest transport: a
// transfer completes only while sender and receiver both wait in the actions that hold it (MPI's
// rendezvous protocol; NCCL send/recv), an exchange once both its messages have.
//
// Measurement: a simulation in which F takes `forward` and B takes `backward` time units on every
// stage and transfers take no time gives the step's length, the bubble (the share of stage-time
// spent idle) and the most micro-batches whose activations a stage holds at once (forwarded, not
// yet backwarded).
#pragma once

#include <string>
#include <vector>

#include "pipeline/Schedule.h"

namespace ringtrain::pipeline {

struct StepCosts {
  double forward = 1;
  double backward = 2;
};

struct ScheduleReport {
  // Empty for a sound schedule; otherwise each problem, e.g. "stage 1: F2 before receive ...", or
  // for a deadlock the action every unfinished stage is stuck in.
  std::vector<std::string> problems;
  bool deadlocked = false;
  double stepTime = 0;
  double bubbleFraction = 0;
  std::vector<int> maxInFlight;  // per stage
  std::vector<double> busyTime;  // per stage

  bool sound() const { return problems.empty(); }
};

ScheduleReport checkSchedule(const std::vector<StageSchedule>& schedules, int microBatches,
                             const StepCosts& costs = {});

// (P - 1) / (M + P - 1): the idle share of fill-drain pipelines with equal stages.
double theoreticalBubble(int stages, int microBatches);

}  // namespace ringtrain::pipeline
