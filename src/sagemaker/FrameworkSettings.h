// What ringtrain takes from the hyperparameters that SageMaker's framework estimators write (keys
// starting with "sagemaker_"). `distribution={"mpi": {"enabled": True, "processes_per_host": N,
// "custom_mpi_options": "..."}}` arrives as sagemaker_mpi_enabled,
// sagemaker_mpi_num_of_processes_per_host and sagemaker_mpi_custom_mpi_options, and is honoured
// where ringtrain's own processes_per_host and mpi_options are absent. Keys that ask for another
// way of training (SageMaker's data parallel library, a parameter server, torchrun, the
// estimator's entry point script) cannot be honoured: each one set gives a warning for the job's
// log. Bookkeeping keys (job name, region, log level, source directory) are read silently. Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sagemaker/JobConfig.h"

namespace ringtrain::sagemaker {

// Whether `name` is one of SageMaker's keys ("sagemaker_..."), which are not ringtrain train flags.
bool isFrameworkHyperparameter(const std::string& name);

struct FrameworkSettings {
  // Each as written, for the launcher to check and to name in its errors; absent unless
  // sagemaker_mpi_enabled is true.
  std::optional<Hyperparameter> processesPerHost;  // sagemaker_mpi_num_of_processes_per_host
  std::optional<Hyperparameter> processes;         // sagemaker_mpi_num_processes (all hosts)
  std::optional<Hyperparameter> mpiOptions;        // sagemaker_mpi_custom_mpi_options
  std::vector<std::string> warnings;
};

// Reads the framework keys among `hyperparameters` and ignores the others.
FrameworkSettings readFrameworkSettings(const std::vector<Hyperparameter>& hyperparameters);

}  // namespace ringtrain::sagemaker
