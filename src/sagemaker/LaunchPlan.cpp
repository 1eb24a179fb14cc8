#include "ringtrain/sagemaker/LaunchPlan.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "ringtrain/util/Error.h"
#include "ringtrain/util/Files.h"
#include "ringtrain/util/Numbers.h"

namespace ringtrain::sagemaker {
namespace {

// Set by the container from its own layout; a hyperparameter may not move them.
const std::set<std::string> kContainerFlags = {"output-dir", "checkpoint-dir", "progress"};

int positiveCount(const Hyperparameter& parameter, int most) {
  const std::optional<int64_t> value = parseInt64(parameter.value);
  RINGTRAIN_USER_CHECK(value && *value >= 1 && *value <= most,
                       "hyperparameter '" << parameter.name << "' must be a whole number from 1 to "
                                          << most << ", got '" << parameter.value << "'");
  return static_cast<int>(*value);
}

std::vector<std::string> splitAtSpaces(const std::string& text) {
  std::istringstream stream(text);
  std::vector<std::string> words;
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

const Channel* findChannel(const std::vector<Channel>& channels, const std::string& name) {
  for (const Channel& channel : channels) {
    if (channel.name == name) return &channel;
  }
  return nullptr;
}

// The --train / --val spec for a channel: its directory, or for Pipe mode the FIFOs' prefix
// (<channel>_0, <channel>_1, ... one per epoch).
std::string channelSpec(const std::string& root, const Channel& channel) {
  const std::string path = root + "/input/data/" + channel.name;
  if (channel.mode == InputMode::kPipe) return "pipe:" + path;
  RINGTRAIN_USER_CHECK(isDirectory(path),
                       "channel '" << channel.name << "' is configured in inputdataconfig.json but "
                                   << path << " is not a directory");
  return path;
}

}  // namespace

std::string flagName(const std::string& hyperparameter) {
  std::string name = hyperparameter;
  while (!name.empty() && name.front() == '-') name.erase(name.begin());
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

LaunchPlan planLaunch(const JobInputs& inputs) {
  LaunchPlan plan;
  plan.modelDir = inputs.root + "/model";
  plan.checkpointDir = inputs.root + "/checkpoints";
  plan.failureFile = inputs.root + "/output/failure";
  plan.processesPerHost = std::max(1, inputs.gpusOnHost);
  std::vector<std::string> mpiOptions;
  std::set<std::string> given;

  for (const Hyperparameter& parameter : inputs.hyperparameters) {
    const std::string flag = flagName(parameter.name);
    if (flag == "processes-per-host") {
      plan.processesPerHost = positiveCount(parameter, 1024);
      continue;
    }
    if (flag == "mpi-options") {
      mpiOptions = splitAtSpaces(parameter.value);
      continue;
    }
    RINGTRAIN_USER_CHECK(inputs.isTrainFlag(flag),
                         "hyperparameter '" << parameter.name << "' is not a flag of ringtrain "
                                            << "train (see `ringtrain train --help`), nor "
                                               "processes_per_host or mpi_options");
    RINGTRAIN_USER_CHECK(!kContainerFlags.count(flag),
                         "hyperparameter '" << parameter.name << "' cannot be set in a SageMaker "
                                            << "job: the container writes to " << plan.modelDir
                                            << " and " << plan.checkpointDir);
    RINGTRAIN_USER_CHECK(given.insert(flag).second, "hyperparameter '" << parameter.name
                                                                       << "' names --" << flag
                                                                       << " a second time");
    if (inputs.isSwitch(flag)) {
      RINGTRAIN_USER_CHECK(parameter.value == "true" || parameter.value == "false" ||
                               parameter.value == "1" || parameter.value == "0",
                           "hyperparameter '" << parameter.name << "' is a switch: true or "
                                              << "false, got '" << parameter.value << "'");
      if (parameter.value == "true" || parameter.value == "1") {
        plan.trainArguments.push_back("--" + flag);
      }
      continue;
    }
    plan.trainArguments.push_back("--" + flag + "=" + parameter.value);
  }

  // Data: the channels, unless a hyperparameter names the data itself.
  const Channel* train = findChannel(inputs.channels, "train");
  if (!given.count("train")) {
    RINGTRAIN_USER_CHECK(train,
                         "the job has no 'train' channel (inputdataconfig.json) and no "
                         "'train' hyperparameter: nothing to train on");
    plan.trainArguments.push_back("--train=" + channelSpec(inputs.root, *train));
  }
  if (!given.count("val")) {
    if (const Channel* validation = findChannel(inputs.channels, "validation")) {
      plan.trainArguments.push_back("--val=" + channelSpec(inputs.root, *validation));
    }
  }
  if (train && !given.count("train") && !given.count("data-sharding") &&
      train->distribution == Distribution::kShardedByS3Key) {
    plan.trainArguments.push_back("--data-sharding=host");
  }
  plan.trainArguments.push_back("--output-dir=" + plan.modelDir);
  plan.trainArguments.push_back("--checkpoint-dir=" + plan.checkpointDir);
  plan.trainArguments.push_back("--progress=off");

  const auto& hosts = inputs.resources.hosts;
  plan.ranks = plan.processesPerHost * static_cast<int>(hosts.size());
  std::vector<std::string>& command = plan.command;
  command = {inputs.mpirunPath, "--allow-run-as-root", "-np", std::to_string(plan.ranks),
             "--bind-to", "none", "--map-by", "slot",
             // One failed rank ends the job instead of leaving the others waiting.
             "--mca", "orte_abort_on_non_zero_status", "1",
             // Containers may not ptrace each other, which single-copy shared memory needs.
             "--mca", "btl_vader_single_copy_mechanism", "none"};
  if (hosts.size() == 1) {
    // Slots as asked, whatever the core count.
    command.insert(command.end(), {"--host", "localhost:" + std::to_string(plan.processesPerHost)});
  }
  if (hosts.size() > 1) {
    std::string hostList;
    for (const std::string& host : hosts) {
      hostList +=
          (hostList.empty() ? "" : ",") + host + ":" + std::to_string(plan.processesPerHost);
    }
    const std::string& iface = inputs.resources.networkInterface;
    const char* ncclDebug = std::getenv("NCCL_DEBUG");
    const std::vector<std::string> cluster = {
        "--host", hostList,
        // The master reaches every worker itself, so every worker needs only the master's key.
        "--mca", "plm_rsh_no_tree_spawn", "1", "--mca", "btl_tcp_if_include", iface, "--mca",
        "oob_tcp_if_include", iface, "--mca", "pml", "ob1", "--mca", "btl", "^openib", "-x", "PATH",
        "-x", "NCCL_SOCKET_IFNAME=" + iface, "-x",
        std::string("NCCL_DEBUG=") + (ncclDebug && *ncclDebug ? ncclDebug : "WARN")};
    command.insert(command.end(), cluster.begin(), cluster.end());
    // Forwarded only when set: mpirun warns about a variable it cannot find.
    if (std::getenv("LD_LIBRARY_PATH")) command.insert(command.end(), {"-x", "LD_LIBRARY_PATH"});
    if (!inputs.hostnameShim.empty()) {
      command.insert(command.end(), {"-x", "LD_PRELOAD=" + inputs.hostnameShim});
    }
  }
  command.insert(command.end(), mpiOptions.begin(), mpiOptions.end());
  command.push_back(inputs.trainerPath);
  command.push_back("train");
  command.insert(command.end(), plan.trainArguments.begin(), plan.trainArguments.end());
  return plan;
}

}  // namespace ringtrain::sagemaker
