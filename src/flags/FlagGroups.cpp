#include "FlagGroups.h"

#include "FlagValues.h"
#include "launch/CommTimeout.h"
#include "ringtrain/util/Error.h"
#include "train/SettingNames.h"

namespace ringtrain::flags {
namespace {

std::string text(const cxxopts::ParseResult& flags, const char* name) {
  return flags[name].as<std::string>();
}

std::shared_ptr<cxxopts::Value> withDefault(const char* fallback) {
  return cxxopts::value<std::string>()->default_value(fallback);
}

}  // namespace

void addRankFlags(cxxopts::Options& options, const std::string& group, Devices devices) {
  auto adder = options.add_options(group);
  if (devices == Devices::kAny) {
    adder("device", "auto (GPU if available), cpu or cuda", withDefault("auto"), "DEV");
    adder("backend",
          "what moves tensors between ranks: auto (nccl on GPUs, mpi on CPU), mpi (GPU tensors "
          "through host memory) or nccl",
          withDefault("auto"), "NAME");
  }
  adder("threads", "intra-op threads per rank (0: the cores this rank may use)", withDefault("0"),
        "N");
  adder("comm-timeout",
        "end the job when one communication call has waited this many seconds for the other "
        "ranks (0: wait forever)",
        withDefault("300"), "S");
  adder("heartbeat-timeout",
        "end the job when a rank has sent no heartbeat for this many seconds: dead, frozen, or its "
        "host gone (0: no heartbeats)",
        withDefault("10"), "S");
}

RankFlags readRankFlags(const cxxopts::ParseResult& flags, Devices devices) {
  RankFlags rank;
  if (devices == Devices::kAny) {
    rank.device = parseChoice("device", text(flags, "device"), {"auto", "cpu", "cuda"});
    rank.backend = parseChoice("backend", text(flags, "backend"), {"auto", "mpi", "nccl"});
  }
  const int64_t threads = parseInteger("threads", text(flags, "threads"));
  RINGTRAIN_USER_CHECK(threads >= 0 && threads <= 4096, "--threads must be between 0 and 4096");
  rank.threads = static_cast<int>(threads);
  rank.commTimeoutSeconds = parseReal("comm-timeout", text(flags, "comm-timeout"));
  launch::checkCommTimeout(rank.commTimeoutSeconds, "--comm-timeout");
  rank.heartbeatTimeoutSeconds = parseReal("heartbeat-timeout", text(flags, "heartbeat-timeout"));
  launch::checkHeartbeatTimeout(rank.heartbeatTimeoutSeconds, "--heartbeat-timeout");
  return rank;
}

void addCsvFlags(cxxopts::Options& options, const std::string& group,
                 const std::string& labelColumnHelp, const char* labelColumnDefault) {
  options.add_options(group)("csv-header", "CSV files start with a header line")(
      "label-column", labelColumnHelp, withDefault(labelColumnDefault), "K");
}

data::CsvOptions readCsvFlags(const cxxopts::ParseResult& flags, bool labelsOptional) {
  data::CsvOptions csv;
  csv.header = flags.count("csv-header") > 0;
  csv.labelColumn = parseLabelColumn(text(flags, "label-column"), labelsOptional);
  return csv;
}

void addProgressFlag(cxxopts::Options& options, const std::string& group) {
  options.add_options(group)(
      "progress",
      "progress bar: " + choicesIn(train::progressModeNames()) + " (auto: on a terminal)",
      withDefault("auto"), "MODE");
}

train::ProgressMode readProgressFlag(const cxxopts::ParseResult& flags) {
  return valueNamed(train::progressModeNames(), "progress", text(flags, "progress"));
}

}  // namespace ringtrain::flags
