// A job whose launcher started several processes that MPI sees as as many jobs of one process
// each: `srun` without a PMI plugin this MPI can use, or another MPI's `mpiexec`. Every process
// would then train alone, on all the data, and write the same outputs. What the launcher said is
// read from the environment before MPI starts (a singleton MPI may set variables of its own).
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace ringtrain::launch {

struct LaunchEnvironment {
  std::string launcher;           // what started the processes, as the message names it
  std::optional<long> processes;  // how many it says it started
  // Whether the launcher handed the processes a way to find each other: Open MPI's own launcher,
  // PMIx or PMI.
  bool wiredUp = false;
};

// From `getenv`'s answers: Open MPI's mpirun (OMPI_COMM_WORLD_SIZE) first, whose processes may
// also carry the Slurm step of its daemons; then a Slurm step (SLURM_STEP_NUM_TASKS with
// SLURM_STEP_ID, set by srun and not in the batch script itself); then a PMI launcher (PMI_SIZE:
// MPICH's or Intel's mpiexec). RINGTRAIN_LAUNCH_CHECK=off: nothing to check.
LaunchEnvironment launchEnvironmentOf(const std::function<const char*(const char*)>& getenv);
LaunchEnvironment launchEnvironment();  // this process's

// Before MPI starts: UserError for an srun step of several tasks given no PMIx or PMI, which
// Open MPI would start as singletons (or refuse with a message of its own). Returns `environment`.
LaunchEnvironment checkBeforeMpi(LaunchEnvironment environment);
// Once MPI started: UserError when its world holds one process and the launcher started more.
void checkLaunch(const LaunchEnvironment& environment, int worldSize);

}  // namespace ringtrain::launch
