#include <cxxopts.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/Commands.h"
#include "flags/FlagValues.h"
#include "pipeline/Schedule.h"
#include "pipeline/ScheduleCheck.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

int runPipelinePlan(int argc, char** argv) {
  cxxopts::Options options(
      "ringtrain pipeline-plan",
      "Print, as JSON, what every pipeline stage does in one optimizer step, checked for "
      "deadlocks, with the bubble and the activations each stage holds in a simulation where a "
      "backward costs --backward-cost forwards.");
  const auto text = [](const char* fallback) {
    return cxxopts::value<std::string>()->default_value(fallback);
  };
  // --stages was the first name of --pipeline-stages, the flag of ringtrain train; it still works.
  options.add_options()("pipeline-stages,stages", "pipeline stages; also --stages", text("4"), "P")(
      "micro-batches", "micro-batches per optimizer step", text("8"), "M")(
      "schedule", "gpipe or 1f1b", text("1f1b"), "NAME")(
      "backward-cost", "a backward's time in forwards", text("2"), "X")("h,help", "show this help");
  const cxxopts::ParseResult result = flags::parseFlags(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help();
    return 0;
  }
  const auto str = [&](const char* flag) { return result[flag].as<std::string>(); };
  const int64_t stages = flags::parseInteger("pipeline-stages", str("pipeline-stages"));
  const int64_t microBatches = flags::parseInteger("micro-batches", str("micro-batches"));
  RINGTRAIN_USER_CHECK(stages >= 1 && stages <= 1024,
                       "--pipeline-stages must be between 1 and 1024");
  RINGTRAIN_USER_CHECK(microBatches >= 1 && microBatches <= 4096,
                       "--micro-batches must be between 1 and 4096");
  const double backwardCost = flags::parseReal("backward-cost", str("backward-cost"));
  RINGTRAIN_USER_CHECK(backwardCost > 0, "--backward-cost must be positive");
  const pipeline::ScheduleKind kind = pipeline::parseScheduleKind("schedule", str("schedule"));

  const auto schedules =
      pipeline::makeSchedule(kind, static_cast<int>(stages), static_cast<int>(microBatches));
  const pipeline::ScheduleReport report =
      pipeline::checkSchedule(schedules, static_cast<int>(microBatches), {1.0, backwardCost});
  nlohmann::ordered_json plan{{"schedule", pipeline::scheduleName(kind)},
                              {"stages", stages},
                              {"micro_batches", microBatches},
                              {"sound", report.sound()},
                              {"problems", report.problems}};
  if (report.sound()) {
    plan["step_time"] = report.stepTime;
    plan["bubble"] = report.bubbleFraction;
    plan["bubble_theory"] =
        pipeline::theoreticalBubble(static_cast<int>(stages), static_cast<int>(microBatches));
    plan["max_in_flight"] = report.maxInFlight;
  }
  plan["actions"] = nlohmann::ordered_json::array();
  for (const auto& stage : schedules) {
    nlohmann::ordered_json actions = nlohmann::ordered_json::array();
    for (const auto& action : stage) actions.push_back(pipeline::describe(action));
    plan["actions"].push_back(actions);
  }
  std::cout << plan.dump() << std::endl;
  return report.sound() ? 0 : 1;
}

}  // namespace ringtrain::cli
