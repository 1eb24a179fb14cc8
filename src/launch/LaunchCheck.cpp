#include "launch/LaunchCheck.h"

#include <cstdlib>
#include <sstream>

#include "ringtrain/util/Error.h"

namespace ringtrain::launch {
namespace {

// A positive count, or nothing for a variable that is unset or not a number.
std::optional<long> countIn(const char* value) {
  if (value == nullptr || *value == '\0') return std::nullopt;
  char* end = nullptr;
  const long count = std::strtol(value, &end, 10);
  if (*end != '\0' || count < 1) return std::nullopt;
  return count;
}

[[noreturn]] void refuse(const LaunchEnvironment& environment, const std::string& what) {
  std::ostringstream message;
  message << environment.launcher << " started " << *environment.processes << " processes, but "
          << what << ", so each would train alone on all the data. ";
  if (environment.launcher == "srun") {
    message << "srun needs a PMI plugin that this Open MPI can use: `srun --mpi=pmix ...` "
               "(`srun --mpi=list` shows this cluster's), or run `mpirun ...` inside the "
               "allocation (sbatch, salloc) instead of srun.";
  } else {
    message << "Start ringtrain with the mpirun of the Open MPI it was built with.";
  }
  message << " (RINGTRAIN_LAUNCH_CHECK=off starts it all the same.)";
  throw UserError(message.str());
}

}  // namespace

LaunchEnvironment launchEnvironmentOf(const std::function<const char*(const char*)>& getenv) {
  const char* check = getenv("RINGTRAIN_LAUNCH_CHECK");
  if (check != nullptr && std::string(check) == "off") return {};
  const bool wiredUp = getenv("OMPI_COMM_WORLD_SIZE") != nullptr ||
                       getenv("PMIX_RANK") != nullptr || getenv("PMI_RANK") != nullptr ||
                       getenv("PMI_FD") != nullptr;
  if (const auto processes = countIn(getenv("OMPI_COMM_WORLD_SIZE"))) {
    return {"mpirun", processes, wiredUp};
  }
  if (getenv("SLURM_STEP_ID") != nullptr) {
    if (const auto processes = countIn(getenv("SLURM_STEP_NUM_TASKS"))) {
      return {"srun", processes, wiredUp};
    }
  }
  if (const auto processes = countIn(getenv("PMI_SIZE"))) {
    return {"a PMI launcher", processes, wiredUp};
  }
  return {};
}

LaunchEnvironment launchEnvironment() {
  return launchEnvironmentOf([](const char* name) { return std::getenv(name); });
}

LaunchEnvironment checkBeforeMpi(LaunchEnvironment environment) {
  if (environment.launcher == "srun" && environment.processes > 1 && !environment.wiredUp) {
    refuse(environment, "gave them no PMIx or PMI to find each other with");
  }
  return environment;
}

void checkLaunch(const LaunchEnvironment& environment, int worldSize) {
  if (worldSize != 1 || !environment.processes || *environment.processes <= 1) return;
  refuse(environment, "MPI sees each as a job of its own (a world of 1)");
}

}  // namespace ringtrain::launch
