#include "sagemaker/LaunchPlan.h"

#include <algorithm>
#include <optional>
#include <set>
#include <sstream>

#include "ringtrain/util/Error.h"
#include "sagemaker/FrameworkSettings.h"
#include "util/Files.h"
#include "util/Numbers.h"

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

// Extra mpirun options, split at spaces. `--NCCL_DEBUG X` (or `=X`), which SageMaker's training
// toolkit reads as NCCL's log level and AWS examples pass, becomes `-x NCCL_DEBUG=X`: mpirun itself
// would refuse it.
std::vector<std::string> mpirunOptions(const std::string& text) {
  const std::string flag = "--NCCL_DEBUG";
  const std::vector<std::string> words = splitAtSpaces(text);
  std::vector<std::string> options;
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == flag) {
      RINGTRAIN_USER_CHECK(i + 1 < words.size(), "MPI options '" << text << "': " << flag
                                                                 << " needs a value (INFO, WARN)");
      options.insert(options.end(), {"-x", "NCCL_DEBUG=" + words[++i]});
    } else if (words[i].rfind(flag + "=", 0) == 0) {
      options.insert(options.end(), {"-x", "NCCL_DEBUG=" + words[i].substr(flag.size() + 1)});
    } else {
      options.push_back(words[i]);
    }
  }
  return options;
}

const Channel* findChannel(const std::vector<Channel>& channels, const std::string& name) {
  for (const Channel& channel : channels) {
    if (channel.name == name) return &channel;
  }
  return nullptr;
}

// 'train', or 'training': the SageMaker Python SDK's name for the one location of
// `fit("s3://...")`, and the AWS examples'.
const Channel* trainingChannel(const std::vector<Channel>& channels) {
  const Channel* train = findChannel(channels, "train");
  const Channel* training = findChannel(channels, "training");
  RINGTRAIN_USER_CHECK(!(train && training),
                       "the job has both a 'train' and a 'training' channel, and ringtrain trains "
                       "on one: rename one of them");
  return train ? train : training;
}

// Whether a hyperparameter names a file or directory of `directory` (a --model-spec in a channel
// of its own, say).
bool namedByAHyperparameter(const std::vector<Hyperparameter>& hyperparameters,
                            const std::string& directory) {
  return std::any_of(
      hyperparameters.begin(), hyperparameters.end(), [&](const Hyperparameter& parameter) {
        const std::string& value = parameter.value;
        return value.find(directory + "/") != std::string::npos ||
               (value.size() >= directory.size() &&
                value.compare(value.size() - directory.size(), directory.size(), directory) == 0);
      });
}

// A channel that nothing reads is most likely data the user meant to train or validate on.
std::vector<std::string> unreadChannels(const JobInputs& inputs, const Channel* train,
                                        const Channel* validation) {
  std::vector<std::string> warnings;
  for (const Channel& channel : inputs.channels) {
    if (&channel == train || &channel == validation ||
        namedByAHyperparameter(inputs.hyperparameters,
                               inputs.root + "/input/data/" + channel.name)) {
      continue;
    }
    const bool data = channel.name == "train" || channel.name == "training";
    warnings.push_back("channel '" + channel.name + "' is not read: " +
                       (data ? "the 'train' hyperparameter names the training data"
                        : channel.name == "validation"
                            ? "the 'val' hyperparameter names the validation data"
                            : "the training data is the 'train' or 'training' "
                              "channel, the validation data the 'validation' channel, "
                              "and other channels hold files that hyperparameters "
                              "name"));
  }
  return warnings;
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

std::string valueOr(const std::map<std::string, std::string>& environment, const std::string& name,
                    const std::string& otherwise) {
  const auto found = environment.find(name);
  return found == environment.end() || found->second.empty() ? otherwise : found->second;
}

// mpirun's -x options for the ranks on other hosts, which start from sshd, not from this
// environment: the settings of NCCL, libfabric and the AWS OFI NCCL plugin, so that every rank
// runs NCCL alike, and the library path (CUDA forward compatibility); and, with EFA and a working
// plugin, that plugin as NCCL's only network, so that a plugin that cannot start stops the job
// with NCCL's error instead of NCCL falling back to TCP sockets unseen. Says which in `notes`.
std::vector<std::string> ncclNetworkBetweenHosts(
    const std::map<std::string, std::string>& environment, std::vector<std::string>& notes) {
  std::vector<std::string> options;
  for (const auto& [name, value] : environment) {
    const bool setAbove = name == "NCCL_DEBUG" || name == "NCCL_SOCKET_IFNAME";
    const bool forwarded = name.rfind("NCCL_", 0) == 0 || name.rfind("FI_", 0) == 0 ||
                           name.rfind("OFI_NCCL_", 0) == 0 || name == "LD_LIBRARY_PATH";
    if (forwarded && !setAbove && !value.empty()) options.insert(options.end(), {"-x", name});
  }
  const std::string efaPlugin = valueOr(environment, "RINGTRAIN_EFA_PLUGIN", "");
  const std::string net = valueOr(environment, "NCCL_NET", "");
  const std::string plugin = valueOr(environment, "NCCL_NET_PLUGIN", "");
  if (!net.empty() || !plugin.empty()) {
    // The job's choice. A network named without a plugin gets the one found here, which NCCL's
    // default name (libnccl-net.so) may not reach: the installer's NGC variants lack that name.
    if (!net.empty() && plugin.empty() && !efaPlugin.empty()) {
      options.insert(options.end(), {"-x", "NCCL_NET_PLUGIN=" + efaPlugin});
    }
    notes.push_back("NCCL network between hosts: as the job's environment says (" +
                    (net.empty() ? "" : "NCCL_NET=" + net) +
                    (net.empty() || plugin.empty() ? "" : ", ") +
                    (plugin.empty() ? "" : "NCCL_NET_PLUGIN=" + plugin) + ")");
  } else if (!efaPlugin.empty()) {
    options.insert(options.end(),
                   {"-x", "NCCL_NET_PLUGIN=" + efaPlugin, "-x", "NCCL_NET=AWS Libfabric"});
    notes.push_back("NCCL network between hosts: EFA through " + efaPlugin +
                    " (NCCL_NET=AWS Libfabric: NCCL stops rather than fall back to TCP sockets; "
                    "NCCL_NET=Socket in the job's environment chooses sockets)");
  } else {
    notes.push_back(
        "NCCL network between hosts: NCCL's choice, InfiniBand where it finds it, else TCP sockets "
        "(no EFA plugin in use)");
  }
  return options;
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
  const FrameworkSettings framework = readFrameworkSettings(inputs.hyperparameters);
  plan.warnings = framework.warnings;
  std::optional<Hyperparameter> perHost = framework.processesPerHost;
  std::vector<std::string> mpiOptions;
  if (framework.mpiOptions) mpiOptions = mpirunOptions(framework.mpiOptions->value);
  std::set<std::string> given;

  for (const Hyperparameter& parameter : inputs.hyperparameters) {
    if (isFrameworkHyperparameter(parameter.name)) continue;
    const std::string flag = flagName(parameter.name);
    if (flag == "processes-per-host" || flag == "mpi-options") {
      const std::optional<Hyperparameter>& sagemakers =
          flag == "mpi-options" ? framework.mpiOptions : framework.processesPerHost;
      if (sagemakers && sagemakers->value != parameter.value) {
        plan.warnings.push_back(parameter.name + " (" + parameter.value + ") is used, not " +
                                sagemakers->name + " (" + sagemakers->value + ")");
      }
      if (flag == "mpi-options") {
        mpiOptions = mpirunOptions(parameter.value);
      } else {
        perHost = parameter;
      }
      continue;
    }
    RINGTRAIN_USER_CHECK(parameter.name != "mp_parameters",
                         "hyperparameter 'mp_parameters' asks for SageMaker's model parallel "
                         "library (distribution 'smdistributed' 'modelparallel'), which ringtrain "
                         "does not use: pipeline_stages splits a model over GPUs");
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
  const Channel* train = given.count("train") ? nullptr : trainingChannel(inputs.channels);
  const Channel* validation =
      given.count("val") ? nullptr : findChannel(inputs.channels, "validation");
  if (!given.count("train")) {
    RINGTRAIN_USER_CHECK(train,
                         "the job has no 'train' or 'training' channel (inputdataconfig.json) and "
                         "no 'train' hyperparameter: nothing to train on");
    plan.trainArguments.push_back("--train=" + channelSpec(inputs.root, *train));
  }
  if (validation) plan.trainArguments.push_back("--val=" + channelSpec(inputs.root, *validation));
  for (const std::string& warning : unreadChannels(inputs, train, validation)) {
    plan.warnings.push_back(warning);
  }
  if (train && !given.count("data-sharding") &&
      train->distribution == Distribution::kShardedByS3Key) {
    plan.trainArguments.push_back("--data-sharding=host");
  }
  plan.trainArguments.push_back("--output-dir=" + plan.modelDir);
  plan.trainArguments.push_back("--checkpoint-dir=" + plan.checkpointDir);
  plan.trainArguments.push_back("--progress=off");
  // Where SageMaker uploads TensorBoard's files from, when the job asks for them.
  if (!given.count("tensorboard")) {
    plan.trainArguments.push_back("--tensorboard=" + inputs.root + "/output/tensorboard");
  }

  const auto& hosts = inputs.resources.hosts;
  const int hostCount = static_cast<int>(hosts.size());
  // The toolkit's total over all hosts sets the ranks per host when nothing else does.
  const int total = framework.processes ? positiveCount(*framework.processes, 1024 * hostCount) : 0;
  if (perHost) {
    plan.processesPerHost = positiveCount(*perHost, 1024);
  } else if (total > 0) {
    RINGTRAIN_USER_CHECK(total % hostCount == 0,
                         "hyperparameter '" << framework.processes->name << "' asks for " << total
                                            << " ranks, which do not divide evenly over the "
                                            << hostCount << " hosts");
    plan.processesPerHost = total / hostCount;
  }
  plan.ranks = plan.processesPerHost * hostCount;
  if (total > 0 && total != plan.ranks) {
    plan.warnings.push_back(framework.processes->name + " (" + framework.processes->value +
                            ") is not used: the job runs " + std::to_string(hostCount) +
                            " host(s) of " + std::to_string(plan.processesPerHost) + " rank(s)");
  }
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
    const std::vector<std::string> cluster = {
        "--host", hostList,
        // The master reaches every worker itself, so every worker needs only the master's key.
        "--mca", "plm_rsh_no_tree_spawn", "1", "--mca", "btl_tcp_if_include", iface, "--mca",
        "oob_tcp_if_include", iface, "--mca", "pml", "ob1", "--mca", "btl", "^openib", "-x", "PATH",
        "-x", "NCCL_SOCKET_IFNAME=" + iface, "-x",
        "NCCL_DEBUG=" + valueOr(inputs.environment, "NCCL_DEBUG", "WARN")};
    command.insert(command.end(), cluster.begin(), cluster.end());
    const std::vector<std::string> network =
        ncclNetworkBetweenHosts(inputs.environment, plan.notes);
    command.insert(command.end(), network.begin(), network.end());
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
