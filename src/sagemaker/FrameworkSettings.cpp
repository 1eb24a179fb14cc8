#include "sagemaker/FrameworkSettings.h"

#include <map>
#include <set>

namespace ringtrain::sagemaker {
namespace {

constexpr const char* kTorchrun =
    "torchrun is not used: ringtrain starts its ranks itself, under mpirun, one per GPU";

// Switches of other ways to train, with what ringtrain does instead.
const std::map<std::string, std::string> kOtherStrategies = {
    {"sagemaker_distributed_dataparallel_enabled",
     "SageMaker's distributed data parallel library is not used: ringtrain averages gradients "
     "itself, over NCCL or MPI"},
    {"sagemaker_parameter_server_enabled",
     "there is no parameter server: ringtrain averages gradients with allreduce"},
    {"sagemaker_multi_worker_mirrored_strategy_enabled",
     "TensorFlow's MultiWorkerMirroredStrategy is not used"},
    {"sagemaker_pytorch_xla_multi_worker_enabled", "PyTorch/XLA is not used"},
    {"sagemaker_pytorch_ddp_enabled", kTorchrun},
    {"sagemaker_torch_distributed_enabled", kTorchrun},
};

// Bookkeeping that changes nothing about how ringtrain trains.
const std::set<std::string> kBookkeeping = {
    "sagemaker_submit_directory",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "sagemaker_region",
    "sagemaker_instance_type",
    "sagemaker_estimator_class_name",
    "sagemaker_estimator_module",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_distributed_dataparallel_custom_mpi_options"};

constexpr const char* kMpiEnabled = "sagemaker_mpi_enabled";
constexpr const char* kMpiPerHost = "sagemaker_mpi_num_of_processes_per_host";
constexpr const char* kMpiProcesses = "sagemaker_mpi_num_processes";
constexpr const char* kMpiOptions = "sagemaker_mpi_custom_mpi_options";

bool isSet(const std::string& value) {
  return value == "true" || value == "1";
}

}  // namespace

bool isFrameworkHyperparameter(const std::string& name) {
  return name.rfind("sagemaker_", 0) == 0;
}

FrameworkSettings readFrameworkSettings(const std::vector<Hyperparameter>& hyperparameters) {
  FrameworkSettings settings;
  std::optional<bool> mpiEnabled;
  std::vector<Hyperparameter> mpi;
  for (const Hyperparameter& parameter : hyperparameters) {
    const std::string& name = parameter.name;
    if (!isFrameworkHyperparameter(name) || kBookkeeping.count(name)) continue;
    if (name == kMpiEnabled) {
      mpiEnabled = isSet(parameter.value);
    } else if (name == kMpiPerHost || name == kMpiProcesses || name == kMpiOptions) {
      if (!parameter.value.empty()) mpi.push_back(parameter);
    } else if (const auto strategy = kOtherStrategies.find(name);
               strategy != kOtherStrategies.end()) {
      if (isSet(parameter.value))
        settings.warnings.push_back(name + " is set: " + strategy->second);
    } else if (name == "sagemaker_program") {
      settings.warnings.push_back("the estimator's entry point '" + parameter.value +
                                  "' (sagemaker_program) is not run: the ringtrain image trains "
                                  "as its hyperparameters say");
    } else if (name == "sagemaker_distribution_instance_groups") {
      if (!parameter.value.empty()) {
        settings.warnings.push_back("sagemaker_distribution_instance_groups (" + parameter.value +
                                    ") is not honoured: ringtrain trains on every host of the job");
      }
    } else {
      settings.warnings.push_back("hyperparameter '" + name +
                                  "' is SageMaker's and ringtrain does not use it");
    }
  }
  if (mpiEnabled.value_or(false)) {
    for (const Hyperparameter& parameter : mpi) {
      if (parameter.name == kMpiPerHost) settings.processesPerHost = parameter;
      if (parameter.name == kMpiProcesses) settings.processes = parameter;
      if (parameter.name == kMpiOptions) settings.mpiOptions = parameter;
    }
  } else if (!mpi.empty()) {
    settings.warnings.push_back(
        std::string(mpiEnabled ? "sagemaker_mpi_enabled is false"
                               : "sagemaker_mpi_enabled is absent") +
        ": ringtrain starts its ranks with mpirun all the same, and ignores " + mpi.front().name +
        (mpi.size() > 1 ? " and the other sagemaker_mpi_ settings" : ""));
  }
  return settings;
}

}  // namespace ringtrain::sagemaker
