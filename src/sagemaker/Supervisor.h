// Runs the job's command (mpirun) as the container's main work and turns what happens to it into
// the container's outcome: its exit status, its stderr forwarded (and the last of it kept for the
// failure reason), and a stop signal to the container passed on as a graceful stop within
// SageMaker's 120 s.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace ringtrain::sagemaker {

struct StopTimings {
  // SIGUSR1 first (mpirun forwards it to every rank, which checkpoint and exit 0); if the job is
  // still running after `graceful`, SIGTERM to mpirun; after `forceful`, SIGKILL to its group.
  std::chrono::seconds graceful{100};
  std::chrono::seconds forceful{115};
};

struct Outcome {
  int exitCode = 0;            // the command's, or 128 + signal
  bool stopRequested = false;  // the container got SIGTERM or SIGINT
  std::string stderrTail;      // the last few KiB of the command's stderr
};

// From the start of the container on, SIGTERM and SIGINT only set a flag (PID 1 would otherwise
// ignore them): a stop that comes before training starts is not lost.
void installStopFlag();
bool stopRequested();

// Replaces this process by `command` (argv[0] found on PATH); if that fails, says why on stderr
// and exits 127, as a shell does.
[[noreturn]] void replaceProcess(const std::vector<std::string>& command);

// Starts `command` (argv[0] found on PATH) in a process group of its own and waits for it,
// reaping any other child on the way. Blocks SIGTERM, SIGINT and SIGCHLD for the calling process
// while it runs.
Outcome supervise(const std::vector<std::string>& command, const StopTimings& timings = {});

// The short reason for /opt/ml/output/failure: the first line of `stderrTail` that reports an
// error (ringtrain's "error:" lines), else the exit status with mpirun's account of a rank that
// died, if it gave one.
std::string failureReason(const Outcome& outcome);

// Writes `reason` (at most 1024 characters, as SageMaker shows) to `path` unless the file already
// exists: the first failure reported is the one that caused the others.
void writeFailure(const std::string& path, const std::string& reason);

}  // namespace ringtrain::sagemaker
