// `ringtrain sagemaker [train] [ARGS...]`: the container's entrypoint. In a SageMaker job (a
// resourceconfig.json under the SageMaker root) it turns the job's configuration into one
// `ringtrain train` under mpirun and reports the outcome the way SageMaker reads it; anywhere else
// it is plain `ringtrain ARGS...` (`train` when there are none).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <set>

#include "cli/Commands.h"
#include "flags/TrainOptions.h"
#include "ringtrain/util/Error.h"
#include "sagemaker/Cluster.h"
#include "sagemaker/JobConfig.h"
#include "sagemaker/LaunchPlan.h"
#include "sagemaker/Supervisor.h"
#include "util/Files.h"

namespace ringtrain::cli {
namespace {

std::string selfPath() {
  char path[4096];
  const ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  return length > 0 ? std::string(path, static_cast<size_t>(length)) : "ringtrain";
}

[[noreturn]] void execPlainRingtrain(std::vector<std::string> arguments) {
  if (arguments.empty()) arguments = {"train"};
  arguments.insert(arguments.begin(), selfPath());
  sagemaker::replaceProcess(arguments);
}

// GPUs the NVIDIA driver knows of, without creating a CUDA context in the container's PID 1.
int gpusOnHost() {
  const std::string gpus = "/proc/driver/nvidia/gpus";
  return isDirectory(gpus) ? static_cast<int>(listDirectory(gpus).size()) : 0;
}

// By absolute path: mpirun started that way starts its daemons on the other hosts from the same
// installation.
std::string onPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string directories = path ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= directories.size();) {
    const size_t end = std::min(directories.find(':', start), directories.size());
    const std::string candidate = directories.substr(start, end - start) + "/" + program;
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return program;
}

std::string jobName() {
  const char* name = std::getenv("TRAINING_JOB_NAME");
  return name && *name ? name : "job";
}

sagemaker::JobInputs readJob(const std::string& root) {
  const std::string config = root + "/input/config/";
  sagemaker::JobInputs inputs;
  inputs.root = root;
  const auto read = [&](const char* file) { return readFile(config + file); };
  inputs.resources =
      sagemaker::parseResourceConfig(read("resourceconfig.json"), config + "resourceconfig.json");
  if (pathExists(config + "hyperparameters.json")) {
    inputs.hyperparameters = sagemaker::parseHyperparameters(read("hyperparameters.json"),
                                                             config + "hyperparameters.json");
  }
  if (pathExists(config + "inputdataconfig.json")) {
    inputs.channels = sagemaker::parseInputDataConfig(read("inputdataconfig.json"),
                                                      config + "inputdataconfig.json");
  }
  inputs.gpusOnHost = gpusOnHost();
  inputs.trainerPath = selfPath();
  inputs.mpirunPath = onPath("mpirun");
  if (const char* shim = std::getenv("RINGTRAIN_HOSTNAME_SHIM")) inputs.hostnameShim = shim;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string variable = *entry;
    const size_t equals = variable.find('=');
    if (equals != std::string::npos) {
      inputs.environment[variable.substr(0, equals)] = variable.substr(equals + 1);
    }
  }
  std::set<std::string> flags;
  std::set<std::string> switches;
  for (const train::TrainFlag& flag : train::trainFlags()) {
    flags.insert(flag.name);
    if (flag.isSwitch) switches.insert(flag.name);
  }
  inputs.isTrainFlag = [flags](const std::string& name) { return flags.count(name) > 0; };
  inputs.isSwitch = [switches](const std::string& name) { return switches.count(name) > 0; };
  return inputs;
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

}  // namespace

int runSageMaker(int argc, char** argv) {
  std::vector<std::string> arguments(argv + 1, argv + argc);
  const std::string root = sagemaker::sagemakerRoot();
  if (!pathExists(root + "/input/config/resourceconfig.json")) execPlainRingtrain(arguments);
  // SageMaker ships stdout to CloudWatch and scans it for metrics: a line as soon as it is whole.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  sagemaker::installStopFlag();
  if (!arguments.empty() && arguments.front() == "train") arguments.erase(arguments.begin());
  const std::string failureFile = root + "/output/failure";

  sagemaker::LaunchPlan plan;
  sagemaker::JobInputs job;
  try {
    RINGTRAIN_USER_CHECK(arguments.empty(),
                         "a SageMaker job is configured by its hyperparameters, not by arguments "
                         "to the container ('"
                             << joined(arguments) << "')");
    job = readJob(root);
    plan = sagemaker::planLaunch(job);
    // The ranks would refuse the same flags; refusing them here reports it once, before any
    // process starts.
    train::parseTrainOptions(plan.trainArguments);
    makeDirectories(plan.modelDir);
    makeDirectories(plan.checkpointDir);
  } catch (const std::exception& error) {
    const std::string reason = std::string("ringtrain sagemaker: ") + error.what();
    std::cerr << reason << std::endl;
    sagemaker::writeFailure(failureFile, reason);
    return 2;
  }

  std::cout << "ringtrain sagemaker: host " << job.resources.currentHost << " of "
            << job.resources.hosts.size() << (job.resources.master() ? " (master)" : "") << ", "
            << plan.processesPerHost << " rank(s) per host; outputs in " << plan.modelDir
            << ", checkpoints in " << plan.checkpointDir << std::endl;
  for (const std::string& warning : plan.warnings) {
    std::cout << "ringtrain sagemaker: warning: " << warning << std::endl;
  }
  for (const std::string& note : plan.notes) {
    if (job.resources.master()) std::cout << "ringtrain sagemaker: " << note << std::endl;
  }
  std::optional<sagemaker::Cluster> cluster;
  if (job.resources.hosts.size() > 1) {
    try {
      cluster.emplace(job.resources, jobName());
      cluster->waitForNames();
      cluster->startSshd();
      if (!job.resources.master()) return cluster->serveAsWorker();
      cluster->waitForWorkers();
    } catch (const std::exception& error) {
      const std::string reason = std::string("ringtrain sagemaker: ") + error.what();
      std::cerr << reason << std::endl;
      sagemaker::writeFailure(failureFile, reason);
      return 1;
    }
  }
  if (sagemaker::stopRequested()) {
    std::cout << "ringtrain sagemaker: stopped before training started" << std::endl;
    if (cluster) cluster->announceDone(0);
    return 0;
  }
  std::cout << "  " << joined(plan.command) << std::endl;
  const sagemaker::Outcome outcome = sagemaker::supervise(plan.command);
  // The reason first: telling the workers can take a while when some are gone.
  if (outcome.exitCode != 0)
    sagemaker::writeFailure(failureFile, sagemaker::failureReason(outcome));
  if (cluster) cluster->announceDone(outcome.exitCode);
  if (outcome.exitCode == 0 && outcome.stopRequested) {
    std::cout << "ringtrain sagemaker: stopped on request; the checkpoint in " << plan.checkpointDir
              << " resumes the job" << std::endl;
  }
  return outcome.exitCode;
}

}  // namespace ringtrain::cli
