#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>

#include "ringtrain/sagemaker/JobConfig.h"
#include "ringtrain/sagemaker/LaunchPlan.h"
#include "ringtrain/sagemaker/Supervisor.h"
#include "ringtrain/util/Error.h"
#include "ringtrain/util/Files.h"

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
  EXPECT_EQ(parameters.size(), 11u);
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
  EXPECT_EQ(valueOf(parameters, "sagemaker_program"), "<absent>");
  EXPECT_EQ(valueOf(parameters, "_tuning_objective_metric"), "<absent>");
  // The file's order is kept.
  EXPECT_EQ(parameters.front().name, "lr");
  EXPECT_EQ(parameters.back().name, "quoted_number");
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
  EXPECT_EQ(
      plan.trainArguments,
      (std::vector<std::string>{
          "--epochs=3", "--hidden=64,32", "--drop-last", "--train=" + root + "/input/data/train",
          "--val=" + root + "/input/data/validation", "--output-dir=" + root + "/model",
          "--checkpoint-dir=" + root + "/checkpoints", "--progress=off"}));
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
  inputs_.hyperparameters = {};
  inputs_.channels = {{"validation", InputMode::kFile, Distribution::kFullyReplicated}};
  EXPECT_NE(failure().find("the job has no 'train' channel"), std::string::npos);
  inputs_.hyperparameters = {{"train", "synthetic:100"}};
  EXPECT_EQ(failure(), "no error");
  removeTree(root_ + "/input/data/validation");
  EXPECT_NE(failure().find("channel 'validation' is configured in inputdataconfig.json but "),
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
