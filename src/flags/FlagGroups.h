// Flag groups that several commands take, declared and read in one place so that a flag means
// the same, says the same in --help and fails the same way in every command.
#pragma once

#include <cxxopts.hpp>
#include <string>

#include "ringtrain/data/Dataset.h"
#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::flags {

// Where a rank computes and how long it waits for the others.
struct RankFlags {
  // auto, cpu or cuda, and auto, mpi or nccl; without Devices::kAny, CPU through MPI.
  std::string device = "cpu";
  std::string backend = "mpi";
  int threads = 0;  // intra-op threads per rank; 0: the cores this rank may use
  double commTimeoutSeconds = 300;
  double heartbeatTimeoutSeconds = 10;
};

// Commands that may run on GPUs take --device and --backend; the others run on CPU through MPI.
enum class Devices { kCpuOnly, kAny };

// --device, --backend (Devices::kAny), --threads, --comm-timeout, --heartbeat-timeout, in help
// group `group`.
void addRankFlags(cxxopts::Options& options, const std::string& group, Devices devices);
RankFlags readRankFlags(const cxxopts::ParseResult& flags, Devices devices);

// --csv-header, --label-column (default "0" or "none"). readCsvFlags accepts "none" where
// `labelsOptional` (tables without labels).
void addCsvFlags(cxxopts::Options& options, const std::string& group,
                 const std::string& labelColumnHelp, const char* labelColumnDefault);
data::CsvOptions readCsvFlags(const cxxopts::ParseResult& flags, bool labelsOptional);

// --progress: auto (on a terminal), on or off.
void addProgressFlag(cxxopts::Options& options, const std::string& group);
train::ProgressMode readProgressFlag(const cxxopts::ParseResult& flags);

}  // namespace ringtrain::flags
