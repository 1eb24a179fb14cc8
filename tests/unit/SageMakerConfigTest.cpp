#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>

#include "ringtrain/util/Error.h"
#include "sagemaker/JobConfig.h"
#include "sagemaker/LaunchPlan.h"
#include "sagemaker/Supervisor.h"
#include "util/Files.h"

namespace ringtrain::sagemaker {
namespace {

std::string valueOf(const std::vector<Hyperparameter>& parameters, const std::string& name) {
  for (const Hyperparameter& parameter : parameters) {
    if (parameter.name == name) return parameter.value;
  }
  return "<absent>";
}

TEST(SageMakerHyperparameters, EveryWayAClientWritesAValueIsUnderstood) {
  // Raw (boto3), JSON-encoded (framework estimators), Python str() (the generic Estimator).
  const auto parameters = parseHyperparameters(R"({
      "lr": "0.010", "optimizer": "\"adamw\"", "epochs": "3", "hidden": "[512, 256]",
      "hidden_py": "[512, 256]", "names": "['a', 'b']", "nesterov": "True", "drop_last": "true",
      "no_shuffle": "False", "train": "synthetic:100", "quoted_number": "\"0.5\"",
      "sagemaker_program": "\"train.py\"", "sagemaker_mpi_enabled": "true",
      "_tuning_objective_metric": "val_loss"})",
                                               "hyperparameters.json");
  EXPECT_EQ(parameters.size(), 13u);
  EXPECT_EQ(valueOf(parameters, "lr"), "0.010");
  EXPECT_EQ(valueOf(parameters, "optimizer"), "adamw");
  EXPECT_EQ(valueOf(parameters, "epochs"), "3");
  EXPECT_EQ(valueOf(parameters, "hidden"), "512,256");
  EXPECT_EQ(valueOf(parameters, "names"), "a,b");
  EXPECT_EQ(valueOf(parameters, "nesterov"), "true");
  EXPECT_EQ(valueOf(parameters, "drop_last"), "true");
  EXPECT_EQ(valueOf(parameters, "no_shuffle"), "false");
  EXPECT_EQ(valueOf(parameters, "train"), "synthetic:100");
  EXPECT_EQ(valueOf(parameters, "quoted_number"), "0.5");
  EXPECT_EQ(valueOf(parameters, "sagemaker_program"), "train.py");
  EXPECT_EQ(valueOf(parameters, "sagemaker_mpi_enabled"), "true");
  EXPECT_EQ(valueOf(parameters, "_tuning_objective_metric"), "<absent>");
  // The file's order is kept.
  EXPECT_EQ(parameters.front().name, "lr");
  EXPECT_EQ(parameters.back().name, "sagemaker_mpi_enabled");
}

TEST(SageMakerHyperparameters, SageMakersOwnKeysNeverFailTheJob) {
  const auto parameters = parseHyperparameters(
      R"({"sagemaker_x": "{\"a\": 1}", "sagemaker_y": "[[1]]", "sagemaker_z": 3})", "hp.json");
  EXPECT_EQ(valueOf(parameters, "sagemaker_x"), R"({"a": 1})");
  EXPECT_EQ(valueOf(parameters, "sagemaker_y"), "[[1]]");
  EXPECT_EQ(valueOf(parameters, "sagemaker_z"), "3");
}

TEST(SageMakerHyperparameters, WhatCannotBeAFlagIsNamed) {
  const auto failure = [](const std::string& text) {
    try {
      parseHyperparameters(text, "hp.json");
    } catch (const UserError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(failure("[1]").find("hp.json must hold a JSON object"), std::string::npos);
  EXPECT_NE(failure("{").find("hp.json is not JSON"), std::string::npos);
  EXPECT_NE(failure(R"({"epochs": 3})").find("'epochs' is not a string"), std::string::npos);
  EXPECT_NE(failure(R"({"x": "{\"a\": 1}"})").find("'x' must be a number"), std::string::npos);
  EXPECT_NE(failure(R"({"x": "[[1]]"})").find("'x' is a list of something"), std::string::npos);
}

TEST(SageMakerResourceConfig, HostsAreSortedAndTheFirstIsTheMaster) {
  const ResourceConfig config = parseResourceConfig(
      R"({"current_host":"algo-2","current_instance_type":"ml.g5.xlarge",
          "hosts":["algo-2","algo-10","algo-1"],"network_interface_name":"ethwe"})",
      "resourceconfig.json");
  EXPECT_EQ(config.hosts, (std::vector<std::string>{"algo-1", "algo-10", "algo-2"}));
  EXPECT_EQ(config.currentHost, "algo-2");
  EXPECT_FALSE(config.master());
  EXPECT_EQ(config.networkInterface, "ethwe");
  EXPECT_EQ(config.instanceType, "ml.g5.xlarge");
  const ResourceConfig local =
      parseResourceConfig(R"({"current_host":"algo-1-x1y2z","hosts":["algo-1-x1y2z"]})", "rc");
  EXPECT_TRUE(local.master());
  EXPECT_EQ(local.networkInterface, "eth0");
  EXPECT_THROW(parseResourceConfig(R"({"current_host":"a","hosts":["b"]})", "rc"), UserError);
  EXPECT_THROW(parseResourceConfig(R"({"hosts":["b"]})", "rc"), UserError);
  EXPECT_THROW(parseResourceConfig(R"({"current_host":"a","hosts":["a","a"]})", "rc"), UserError);
}

TEST(SageMakerInputDataConfig, ModesAndDistributions) {
  const auto channels = parseInputDataConfig(
      R"({"train":{"TrainingInputMode":"Pipe","S3DistributionType":"ShardedByS3Key",
                   "RecordWrapperType":"None"},
          "validation":{"TrainingInputMode":"FastFile","S3DistributionType":"FullyReplicated"}})",
      "inputdataconfig.json");
  ASSERT_EQ(channels.size(), 2u);
  EXPECT_EQ(channels[0].name, "train");
  EXPECT_EQ(channels[0].mode, InputMode::kPipe);
  EXPECT_EQ(channels[0].distribution, Distribution::kShardedByS3Key);
  EXPECT_EQ(channels[1].mode, InputMode::kFastFile);
  EXPECT_EQ(channels[1].distribution, Distribution::kFullyReplicated);
  EXPECT_THROW(parseInputDataConfig(R"({"train":{"TrainingInputMode":"Stream"}})", "i"), UserError);
}

class SageMakerLaunchPlan : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = "/tmp/ringtrain-sm-" + std::to_string(::getpid());
    makeDirectories(root_ + "/input/data/train");
    makeDirectories(root_ + "/input/data/validation");
    inputs_.root = root_;
    inputs_.resources = parseResourceConfig(R"({"current_host":"algo-1","hosts":["algo-1"]})", "");
    inputs_.channels = {{"train", InputMode::kFile, Distribution::kFullyReplicated},
                        {"validation", InputMode::kFile, Distribution::kFullyReplicated}};
    inputs_.trainerPath = "/usr/local/bin/ringtrain";
    inputs_.isTrainFlag = [](const std::string& flag) {
      return flag == "epochs" || flag == "hidden" || flag == "drop-last" || flag == "train" ||
             flag == "output-dir" || flag == "data-sharding" || flag == "no-shuffle";
    };
    inputs_.isSwitch = [](const std::string& flag) {
      return flag == "drop-last" || flag == "no-shuffle";
    };
  }
  void TearDown() override { removeTree(root_); }

  std::string failure() {
    try {
      planLaunch(inputs_);
    } catch (const UserError& error) {
      return error.what();
    }
    return "no error";
  }

  std::string root_;
  JobInputs inputs_;
};

TEST_F(SageMakerLaunchPlan, OneHostRunsOneRankPerGpuWithTheChannelsAsData) {
  inputs_.gpusOnHost = 4;
  inputs_.hyperparameters = {
      {"epochs", "3"}, {"hidden", "64,32"}, {"drop_last", "true"}, {"no-shuffle", "false"}};
  const LaunchPlan plan = planLaunch(inputs_);
  EXPECT_EQ(plan.ranks, 4);
  const std::string& root = root_;
  EXPECT_EQ(plan.trainArguments,
            (std::vector<std::string>{
                "--epochs=3", "--hidden=64,32", "--drop-last",
                "--train=" + root + "/input/data/train", "--val=" + root + "/input/data/validation",
                "--output-dir=" + root + "/model", "--checkpoint-dir=" + root + "/checkpoints",
                "--progress=off", "--tensorboard=" + root + "/output/tensorboard"}));
  const auto& command = plan.command;
  const auto host = std::find(command.begin(), command.end(), "--host");
  ASSERT_NE(host, command.end());
  EXPECT_EQ(*(host + 1), "localhost:4");
  const auto np = std::find(command.begin(), command.end(), "-np");
  ASSERT_NE(np, command.end());
  EXPECT_EQ(*(np + 1), "4");
  const auto trainer = std::find(command.begin(), command.end(), "/usr/local/bin/ringtrain");
  ASSERT_NE(trainer, command.end());
  EXPECT_EQ(*(trainer + 1), "train");
  EXPECT_EQ(std::vector<std::string>(trainer + 2, command.end()), plan.trainArguments);
  EXPECT_EQ(plan.failureFile, root + "/output/failure");
}

TEST_F(SageMakerLaunchPlan, SeveralHostsGetTheClusterOptionsAndShardedChannelsShardByHost) {
  inputs_.resources = parseResourceConfig(
      R"({"current_host":"algo-2","hosts":["algo-2","algo-1"],"network_interface_name":"eth1"})",
      "");
  inputs_.channels = {{"train", InputMode::kFile, Distribution::kShardedByS3Key}};
  inputs_.hyperparameters = {{"processes_per_host", "2"}, {"mpi_options", "--mca a b  -x C"}};
  inputs_.hostnameShim = "/usr/local/lib/ringtrain/libsmhostname.so";
  const LaunchPlan plan = planLaunch(inputs_);
  EXPECT_EQ(plan.ranks, 4);
  const auto& command = plan.command;
  const auto hosts = std::find(command.begin(), command.end(), "--host");
  ASSERT_NE(hosts, command.end());
  EXPECT_EQ(*(hosts + 1), "algo-1:2,algo-2:2");
  EXPECT_NE(std::find(command.begin(), command.end(), "NCCL_SOCKET_IFNAME=eth1"), command.end());
  EXPECT_NE(std::find(command.begin(), command.end(),
                      "LD_PRELOAD=/usr/local/lib/ringtrain/libsmhostname.so"),
            command.end());
  const std::vector<std::string> extra{"--mca", "a", "b", "-x", "C", "/usr/local/bin/ringtrain"};
  EXPECT_NE(std::search(command.begin(), command.end(), extra.begin(), extra.end()), command.end());
  EXPECT_NE(
      std::find(plan.trainArguments.begin(), plan.trainArguments.end(), "--data-sharding=host"),
      plan.trainArguments.end());
}

// The value of option `-x NAME...` in `command`: "NAME" (forwarded as set), "NAME=VALUE", or "";
// "twice" if NAME is exported more than once.
std::string exported(const std::vector<std::string>& command, const std::string& name) {
  std::string found;
  for (size_t i = 0; i + 1 < command.size(); ++i) {
    if (command[i] == "-x" &&
        (command[i + 1] == name || command[i + 1].rfind(name + "=", 0) == 0)) {
      if (!found.empty()) return "twice";
      found = command[i + 1];
    }
  }
  return found;
}

TEST_F(SageMakerLaunchPlan, RanksOnOtherHostsGetTheContainersNcclAndFabricSettings) {
  inputs_.resources =
      parseResourceConfig(R"({"current_host":"algo-1","hosts":["algo-1","algo-2"]})", "");
  inputs_.environment = {
      {"NCCL_IB_DISABLE", "1"},       {"FI_EFA_USE_DEVICE_RDMA", "1"},
      {"OFI_NCCL_PROTOCOL", "RDMA"},  {"LD_LIBRARY_PATH", "/usr/local/cuda/compat"},
      {"NCCL_DEBUG", "INFO"},         {"HOME", "/root"},
      {"NCCL_SOCKET_IFNAME", "eth9"}, {"NCCL_ALGO", ""}};
  LaunchPlan plan = planLaunch(inputs_);
  for (const char* name :
       {"NCCL_IB_DISABLE", "FI_EFA_USE_DEVICE_RDMA", "OFI_NCCL_PROTOCOL", "LD_LIBRARY_PATH"}) {
    EXPECT_EQ(exported(plan.command, name), name);
  }
  EXPECT_EQ(exported(plan.command, "NCCL_DEBUG"), "NCCL_DEBUG=INFO");
  EXPECT_EQ(exported(plan.command, "NCCL_SOCKET_IFNAME"), "NCCL_SOCKET_IFNAME=eth0");  // the job's
  EXPECT_EQ(exported(plan.command, "HOME"), "");
  EXPECT_EQ(exported(plan.command, "NCCL_ALGO"), "");  // empty: not set
  EXPECT_EQ(exported(plan.command, "NCCL_NET"), "");   // no EFA: NCCL chooses
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find("NCCL's choice"), std::string::npos) << plan.notes[0];

  // EFA with a working plugin (docker/entrypoint.sh): that plugin, and nothing to fall back to.
  inputs_.environment = {{"RINGTRAIN_EFA_PLUGIN", "/opt/amazon/ofi-nccl/lib/libnccl-net-ofi.so"}};
  plan = planLaunch(inputs_);
  EXPECT_EQ(exported(plan.command, "NCCL_NET_PLUGIN"),
            "NCCL_NET_PLUGIN=/opt/amazon/ofi-nccl/lib/libnccl-net-ofi.so");
  EXPECT_EQ(exported(plan.command, "NCCL_NET"), "NCCL_NET=AWS Libfabric");
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find("EFA through /opt/amazon/ofi-nccl/lib/libnccl-net-ofi.so"),
            std::string::npos)
      << plan.notes[0];

  // The job's own choice stands, and is what the note names; a network named without a plugin
  // gets the plugin found here (the NGC variants have no libnccl-net.so for NCCL to find).
  inputs_.environment["NCCL_NET"] = "Socket";
  plan = planLaunch(inputs_);
  EXPECT_EQ(exported(plan.command, "NCCL_NET"), "NCCL_NET");
  EXPECT_EQ(exported(plan.command, "NCCL_NET_PLUGIN"),
            "NCCL_NET_PLUGIN=/opt/amazon/ofi-nccl/lib/libnccl-net-ofi.so");
  EXPECT_NE(plan.notes.at(0).find("as the job's environment says (NCCL_NET=Socket)"),
            std::string::npos)
      << plan.notes[0];
  inputs_.environment.erase("NCCL_NET");
  inputs_.environment["NCCL_NET_PLUGIN"] = "none";
  plan = planLaunch(inputs_);
  EXPECT_EQ(exported(plan.command, "NCCL_NET_PLUGIN"), "NCCL_NET_PLUGIN");
  EXPECT_EQ(exported(plan.command, "NCCL_NET"), "");
  EXPECT_NE(plan.notes.at(0).find("(NCCL_NET_PLUGIN=none)"), std::string::npos) << plan.notes[0];
  inputs_.environment.erase("NCCL_NET_PLUGIN");

  // One host: its ranks inherit the environment, and nothing is forced on NVLink and shared memory.
  inputs_.resources = parseResourceConfig(R"({"current_host":"algo-1","hosts":["algo-1"]})", "");
  plan = planLaunch(inputs_);
  EXPECT_EQ(exported(plan.command, "NCCL_NET"), "");
  EXPECT_TRUE(plan.notes.empty());
}

TEST_F(SageMakerLaunchPlan, BadHyperparametersAndMissingChannelsAreNamed) {
  inputs_.hyperparameters = {{"epoch", "3"}};
  EXPECT_NE(failure().find("hyperparameter 'epoch' is not a flag of ringtrain train"),
            std::string::npos);
  inputs_.hyperparameters = {{"output_dir", "/tmp"}};
  EXPECT_NE(failure().find("'output_dir' cannot be set in a SageMaker job"), std::string::npos);
  inputs_.hyperparameters = {{"drop_last", "maybe"}};
  EXPECT_NE(failure().find("'drop_last' is a switch: true or false, got 'maybe'"),
            std::string::npos);
  inputs_.hyperparameters = {{"epochs", "3"}, {"epochs", "4"}};
  EXPECT_NE(failure().find("names --epochs a second time"), std::string::npos);
  inputs_.hyperparameters = {{"processes_per_host", "0"}};
  EXPECT_NE(failure().find("'processes_per_host' must be a whole number"), std::string::npos);
  // As the SDK writes it for distribution={"smdistributed": {"modelparallel": ...}}.
  inputs_.hyperparameters =
      parseHyperparameters(R"({"mp_parameters": "{\"partitions\": 2}"})", "hp.json");
  EXPECT_NE(failure().find("'mp_parameters' asks for SageMaker's model parallel library"),
            std::string::npos);
  inputs_.hyperparameters = {};
  inputs_.channels = {{"validation", InputMode::kFile, Distribution::kFullyReplicated}};
  EXPECT_NE(failure().find("the job has no 'train' or 'training' channel"), std::string::npos);
  inputs_.hyperparameters = {{"train", "synthetic:100"}};
  EXPECT_EQ(failure(), "no error");
  removeTree(root_ + "/input/data/validation");
  EXPECT_NE(failure().find("channel 'validation' is configured in inputdataconfig.json but "),
            std::string::npos);
}

TEST_F(SageMakerLaunchPlan, TheSdksTrainingChannelTrainsAndUnreadChannelsAreReported) {
  makeDirectories(root_ + "/input/data/training");
  inputs_.channels = {{"training", InputMode::kFile, Distribution::kFullyReplicated},
                      {"test", InputMode::kFile, Distribution::kFullyReplicated}};
  LaunchPlan plan = planLaunch(inputs_);
  EXPECT_NE(std::find(plan.trainArguments.begin(), plan.trainArguments.end(),
                      "--train=" + root_ + "/input/data/training"),
            plan.trainArguments.end());
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("channel 'test' is not read"), std::string::npos);
  // A channel a hyperparameter names files in is read through that hyperparameter.
  inputs_.isTrainFlag = [](const std::string& flag) {
    return flag == "init-from" || flag == "train";
  };
  inputs_.hyperparameters = {{"init_from", root_ + "/input/data/testing/model.safetensors"}};
  EXPECT_EQ(planLaunch(inputs_).warnings.size(), 1u);  // 'testing' is not 'test'
  inputs_.hyperparameters = {{"init_from", root_ + "/input/data/test/model.safetensors"}};
  EXPECT_TRUE(planLaunch(inputs_).warnings.empty());

  inputs_.channels.push_back({"train", InputMode::kFile, Distribution::kFullyReplicated});
  EXPECT_NE(failure().find("both a 'train' and a 'training' channel, and ringtrain trains on "
                           "one: rename one of them"),
            std::string::npos);
  // Data named by the 'train' hyperparameter leaves both unread, which the log says.
  inputs_.hyperparameters.push_back({"train", "synthetic:100"});
  plan = planLaunch(inputs_);
  ASSERT_EQ(plan.warnings.size(), 2u);
  EXPECT_NE(plan.warnings[0].find("channel 'training' is not read: the 'train' hyperparameter"),
            std::string::npos);
  EXPECT_NE(plan.warnings[1].find("channel 'train' is not read"), std::string::npos);
}

TEST_F(SageMakerLaunchPlan, NcclDebugInMpiOptionsIsPassedToNcclNotToMpirun) {
  // As the training toolkit reads custom MPI options, and AWS examples write them.
  inputs_.hyperparameters = {{"sagemaker_mpi_enabled", "true"},
                             {"sagemaker_mpi_custom_mpi_options", "-verbose --NCCL_DEBUG=INFO"}};
  LaunchPlan plan = planLaunch(inputs_);
  std::vector<std::string> expected{"-verbose", "-x", "NCCL_DEBUG=INFO", inputs_.trainerPath};
  EXPECT_NE(std::search(plan.command.begin(), plan.command.end(), expected.begin(), expected.end()),
            plan.command.end());
  inputs_.hyperparameters = {{"mpi_options", "--NCCL_DEBUG WARN --mca a b"}};
  plan = planLaunch(inputs_);
  expected = {"-x", "NCCL_DEBUG=WARN", "--mca", "a", "b", inputs_.trainerPath};
  EXPECT_NE(std::search(plan.command.begin(), plan.command.end(), expected.begin(), expected.end()),
            plan.command.end());
  inputs_.hyperparameters = {{"mpi_options", "-verbose --NCCL_DEBUG"}};
  EXPECT_NE(failure().find("--NCCL_DEBUG needs a value"), std::string::npos);
}

TEST_F(SageMakerLaunchPlan, AFrameworkEstimatorsMpiDistributionIsHonoured) {
  // What `PyTorch(..., distribution={"mpi": {"enabled": True, "processes_per_host": 2,
  // "custom_mpi_options": "-x A=1 --mca b c"}})` writes, as parseHyperparameters returns it.
  const std::vector<Hyperparameter> sdk = {
      {"sagemaker_program", "train.sh"},
      {"sagemaker_submit_directory", "/opt/ml/code"},
      {"sagemaker_container_log_level", "20"},
      {"sagemaker_job_name", "job-1"},
      {"sagemaker_region", "us-east-1"},
      {"sagemaker_mpi_enabled", "true"},
      {"sagemaker_mpi_num_of_processes_per_host", "2"},
      {"sagemaker_mpi_custom_mpi_options", "-x A=1 --mca b c"}};
  inputs_.hyperparameters = sdk;
  LaunchPlan plan = planLaunch(inputs_);
  EXPECT_EQ(plan.processesPerHost, 2);
  EXPECT_EQ(plan.ranks, 2);
  const std::vector<std::string> options{"-x", "A=1", "--mca", "b", "c", inputs_.trainerPath};
  EXPECT_NE(std::search(plan.command.begin(), plan.command.end(), options.begin(), options.end()),
            plan.command.end());
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("entry point 'train.sh' (sagemaker_program) is not run"),
            std::string::npos);

  // ringtrain's own settings come first, and say so.
  inputs_.hyperparameters.push_back({"processes_per_host", "3"});
  plan = planLaunch(inputs_);
  EXPECT_EQ(plan.ranks, 3);
  EXPECT_NE(plan.warnings.back().find(
                "processes_per_host (3) is used, not sagemaker_mpi_num_of_processes_per_host (2)"),
            std::string::npos);

  // Switched off, the MPI settings are ignored, and the log says so.
  inputs_.hyperparameters = sdk;
  inputs_.hyperparameters[5].value = "false";
  plan = planLaunch(inputs_);
  EXPECT_EQ(plan.ranks, 1);
  EXPECT_EQ(std::find(plan.command.begin(), plan.command.end(), "A=1"), plan.command.end());
  EXPECT_NE(plan.warnings.back().find("sagemaker_mpi_enabled is false"), std::string::npos);
}

TEST_F(SageMakerLaunchPlan, OtherWaysToTrainAreWarnedAboutNotFailed) {
  inputs_.hyperparameters = {{"sagemaker_distributed_dataparallel_enabled", "true"},
                             {"sagemaker_torch_distributed_enabled", "false"},
                             {"sagemaker_parameter_server_enabled", "true"},
                             {"sagemaker_instance_type", "ml.p4d.24xlarge"},
                             {"sagemaker_something_new", "1"}};
  const LaunchPlan plan = planLaunch(inputs_);
  ASSERT_EQ(plan.warnings.size(), 3u);
  EXPECT_NE(plan.warnings[0].find("sagemaker_distributed_dataparallel_enabled is set: SageMaker's "
                                  "distributed data parallel library is not used"),
            std::string::npos);
  EXPECT_NE(plan.warnings[1].find("sagemaker_parameter_server_enabled is set"), std::string::npos);
  EXPECT_NE(plan.warnings[2].find("'sagemaker_something_new' is SageMaker's and ringtrain does "
                                  "not use it"),
            std::string::npos);
}

TEST_F(SageMakerLaunchPlan, TheToolkitsTotalProcessCountSetsRanksPerHostWhenNothingElseDoes) {
  inputs_.resources =
      parseResourceConfig(R"({"current_host":"algo-1","hosts":["algo-1","algo-2"]})", "");
  inputs_.hyperparameters = {{"sagemaker_mpi_enabled", "true"},
                             {"sagemaker_mpi_num_processes", "4"}};
  EXPECT_EQ(planLaunch(inputs_).processesPerHost, 2);
  inputs_.hyperparameters[1].value = "3";
  EXPECT_NE(failure().find("asks for 3 ranks, which do not divide evenly over the 2 hosts"),
            std::string::npos);
  inputs_.hyperparameters = {{"sagemaker_mpi_enabled", "true"},
                             {"sagemaker_mpi_num_processes", "4"},
                             {"processes_per_host", "1"}};
  const LaunchPlan plan = planLaunch(inputs_);
  EXPECT_EQ(plan.ranks, 2);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_EQ(plan.warnings[0],
            "sagemaker_mpi_num_processes (4) is not used: the job runs 2 host(s) of 1 rank(s)");
  inputs_.hyperparameters[1].value = "many";
  EXPECT_NE(failure().find("'sagemaker_mpi_num_processes' must be a whole number"),
            std::string::npos);
}

TEST(SageMakerFailure, TheFirstErrorIsTheReasonElseWhatMpirunSaw) {
  Outcome outcome;
  outcome.exitCode = 2;
  outcome.stderrTail =
      "ringtrain: 2 rank(s)\n[1,1]<stderr>:ringtrain train: error: --lr must be positive\n"
      "ringtrain train: error on rank 0: later\nPrimary job terminated normally\n";
  EXPECT_EQ(failureReason(outcome), "ringtrain train: error: --lr must be positive");
  outcome.exitCode = 137;
  outcome.stderrTail =
      "-----\nmpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 "
      "(Killed).\n-----\n";
  EXPECT_EQ(failureReason(outcome),
            "training exited with status 137 (signal 9): mpirun noticed that process rank 1 with "
            "PID 0 on node vm exited on signal 9 (Killed).");
  outcome.stderrTail.clear();
  EXPECT_EQ(failureReason(outcome), "training exited with status 137 (signal 9)");
}

TEST(SageMakerFailure, TheFirstReasonWrittenStaysAndIsAtMost1024Characters) {
  const std::string directory = "/tmp/ringtrain-failure-" + std::to_string(::getpid());
  const std::string path = directory + "/output/failure";
  writeFailure(path, std::string(5000, 'x'));
  writeFailure(path, "second");
  EXPECT_EQ(readFile(path), std::string(1024, 'x') + "\n");
  removeTree(directory);
}

}  // namespace
}  // namespace ringtrain::sagemaker
