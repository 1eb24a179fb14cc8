#include "launch/LaunchCheck.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "UserErrorOf.h"

namespace ringtrain::launch {
namespace {

LaunchEnvironment from(const std::map<std::string, std::string>& variables) {
  return launchEnvironmentOf([&](const char* name) -> const char* {
    const auto found = variables.find(name);
    return found == variables.end() ? nullptr : found->second.c_str();
  });
}

std::string refusalOf(const LaunchEnvironment& environment, int worldSize) {
  return testing::userErrorOf([&] { checkLaunch(environment, worldSize); });
}

// What srun without PMI leaves each of four processes: a Slurm step of 4, a world of 1.
const std::map<std::string, std::string> kSrunStep{{"SLURM_STEP_ID", "0"},
                                                   {"SLURM_STEP_NUM_TASKS", "4"},
                                                   {"SLURM_PROCID", "2"},
                                                   {"SLURM_NTASKS", "4"}};

// Before MPI starts (Open MPI 4 would otherwise abort on its own, or start singletons).
TEST(LaunchCheck, SrunWithoutPmiIsRefusedBeforeMpiStarts) {
  const LaunchEnvironment environment = from(kSrunStep);
  EXPECT_EQ(environment.launcher, "srun");
  EXPECT_EQ(environment.processes, 4);
  EXPECT_FALSE(environment.wiredUp);
  const std::string message = testing::userErrorOf([&] { checkBeforeMpi(environment); });
  EXPECT_NE(message.find("srun started 4 processes, but gave them no PMIx or PMI"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("srun --mpi=pmix"), std::string::npos) << message;
  EXPECT_NE(message.find("RINGTRAIN_LAUNCH_CHECK=off"), std::string::npos) << message;
  // srun --mpi=pmix, or pmi2 (whose PMI_SIZE counts the same processes): named as srun.
  for (const char* wiring : {"PMIX_RANK", "PMI_RANK"}) {
    auto variables = kSrunStep;
    variables[wiring] = "2";
    variables["PMI_SIZE"] = "4";
    const LaunchEnvironment wired = from(variables);
    EXPECT_TRUE(wired.wiredUp) << wiring;
    EXPECT_EQ(wired.launcher, "srun") << wiring;
    EXPECT_EQ(testing::userErrorOf([&] { checkBeforeMpi(wired); }), "no error") << wiring;
  }
}

TEST(LaunchCheck, SrunWithPmiThatMpiCannotUseIsRefusedOnceMpiStarted) {
  auto variables = kSrunStep;
  variables["PMIX_RANK"] = "2";
  const LaunchEnvironment environment = from(variables);
  const std::string message = refusalOf(environment, 1);
  EXPECT_NE(message.find("srun started 4 processes, but MPI sees each as a job of its own"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("srun --mpi=pmix"), std::string::npos) << message;
  EXPECT_NE(message.find("mpirun"), std::string::npos) << message;
  // With PMI working, MPI's world is the step's.
  EXPECT_EQ(refusalOf(environment, 4), "no error");
}

// The batch script itself is no step: a process started there (ringtrain prep, or one rank on
// purpose) has the allocation's task count but not srun's step variables.
TEST(LaunchCheck, TheBatchScriptsTaskCountIsNoLaunch) {
  const LaunchEnvironment environment = from({{"SLURM_NTASKS", "8"}, {"SLURM_PROCID", "0"}});
  EXPECT_FALSE(environment.processes);
  EXPECT_EQ(refusalOf(environment, 1), "no error");
}

// mpirun inside an allocation starts its ranks from daemons that srun launched, one per node:
// its own count is the one that matters.
TEST(LaunchCheck, MpirunsCountComesBeforeTheSlurmStepOfItsDaemons) {
  auto variables = kSrunStep;
  variables["OMPI_COMM_WORLD_SIZE"] = "1";
  const LaunchEnvironment environment = from(variables);
  EXPECT_EQ(environment.launcher, "mpirun");
  EXPECT_EQ(environment.processes, 1);
  EXPECT_EQ(refusalOf(environment, 1), "no error");
}

TEST(LaunchCheck, AnotherMpisLauncherIsRefused) {
  const LaunchEnvironment environment = from({{"PMI_SIZE", "2"}, {"PMI_RANK", "1"}});
  const std::string message = refusalOf(environment, 1);
  EXPECT_NE(message.find("a PMI launcher started 2 processes"), std::string::npos) << message;
  EXPECT_NE(message.find("mpirun of the Open MPI it was built with"), std::string::npos) << message;
}

TEST(LaunchCheck, CanBeTurnedOff) {
  auto variables = kSrunStep;
  variables["RINGTRAIN_LAUNCH_CHECK"] = "off";
  const LaunchEnvironment environment = from(variables);
  EXPECT_FALSE(environment.processes);
  EXPECT_EQ(testing::userErrorOf([&] { checkBeforeMpi(environment); }), "no error");
  EXPECT_EQ(refusalOf(environment, 1), "no error");
}

TEST(LaunchCheck, NothingToCheckWithoutALauncherOrWithOneProcess) {
  EXPECT_EQ(refusalOf(from({}), 1), "no error");
  EXPECT_EQ(refusalOf(from({{"SLURM_STEP_ID", "3"}, {"SLURM_STEP_NUM_TASKS", "1"}}), 1),
            "no error");
  // Values that are not counts are no evidence either way.
  EXPECT_FALSE(from({{"SLURM_STEP_ID", "0"}, {"SLURM_STEP_NUM_TASKS", "4(x2)"}}).processes);
  EXPECT_FALSE(from({{"PMI_SIZE", ""}}).processes);
}

}  // namespace
}  // namespace ringtrain::launch
