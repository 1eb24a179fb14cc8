#include "train/TrainingCheckpoint.h"

#include <gtest/gtest.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "UserErrorOf.h"
#include "train/OptimizerState.h"
#include "train/ShardedOptimizerState.h"
#include "util/Files.h"

namespace ringtrain::train {
namespace {

using nlohmann::json;

torch::nn::Sequential smallModel() {
  return torch::nn::Sequential(torch::nn::Linear(5, 4), torch::nn::Linear(4, 3));
}

// Two steps on a fixed batch, so that the optimizer has state.
void train(torch::nn::Sequential& model, torch::optim::Optimizer& optimizer) {
  torch::manual_seed(3);
  const at::Tensor input = torch::randn({8, 5});
  for (int step = 0; step < 2; ++step) {
    optimizer.zero_grad();
    model->forward(input).square().mean().backward();
    optimizer.step();
  }
}

class TrainingCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "ringtrain-training-checkpoint-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    removeTree(dir_);
  }
  void TearDown() override { removeTree(dir_); }

  checkpoint::Checkpoint writeAndRead(torch::nn::Sequential& model,
                                      torch::optim::Optimizer& optimizer) {
    checkpoint::CheckpointWriter writer(dir_, 2);
    writeTraining(writer, *model, optimizer);
    return checkpoint::readCheckpoint(writer.commit(json::object()));
  }

  std::string dir_;
};

// Every parameter's state, as the optimizer holds it.
void expectSameState(torch::nn::Sequential& a, const torch::optim::Optimizer& stateOfA,
                     torch::nn::Sequential& b, const torch::optim::Optimizer& stateOfB) {
  const auto first = a->parameters();
  const auto second = b->parameters();
  ASSERT_EQ(first.size(), second.size());
  for (size_t p = 0; p < first.size(); ++p) {
    EXPECT_TRUE(first[p].equal(second[p]));
    const auto& one = *stateOfA.state().at(first[p].unsafeGetTensorImpl());
    const auto& other = *stateOfB.state().at(second[p].unsafeGetTensorImpl());
    EXPECT_EQ(stateStep(one), stateStep(other));
    const auto tensors = stateTensors(one);
    const auto others = stateTensors(other);
    ASSERT_EQ(tensors.size(), others.size());
    for (size_t t = 0; t < tensors.size(); ++t) EXPECT_TRUE(tensors[t].equal(others[t]));
  }
}

TEST_F(TrainingCheckpoint, AdamWStateRoundTripsThroughOptimizerSafetensors) {
  auto model = smallModel();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(0.01));
  train(model, optimizer);
  const checkpoint::Checkpoint written = writeAndRead(model, optimizer);
  EXPECT_TRUE(pathExists(dir_ + "/step-000000002/optimizer.safetensors"));
  EXPECT_FALSE(pathExists(dir_ + "/step-000000002/optimizer.pt"));

  auto restored = smallModel();
  torch::optim::AdamW fresh(restored->parameters(), torch::optim::AdamWOptions(0.5));
  restoreTraining(written.files, written.path, *restored, fresh);
  expectSameState(model, optimizer, restored, fresh);
  EXPECT_EQ(stateStep(*fresh.state().begin()->second), 2);
  // The state, not the settings: the run that resumes keeps its own.
  EXPECT_DOUBLE_EQ(fresh.param_groups().front().options().get_lr(), 0.5);
}

TEST_F(TrainingCheckpoint, SgdMomentumRoundTrips) {
  auto model = smallModel();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  train(model, optimizer);
  const checkpoint::Checkpoint written = writeAndRead(model, optimizer);
  auto restored = smallModel();
  torch::optim::SGD fresh(restored->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  restoreTraining(written.files, written.path, *restored, fresh);
  expectSameState(model, optimizer, restored, fresh);
}

// Checkpoints of earlier versions hold LibTorch's archive, optimizer.pt; so do checkpoints of
// optimizers other than SGD and AdamW.
TEST_F(TrainingCheckpoint, OptimizerPtIsStillRead) {
  auto model = smallModel();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(0.01));
  train(model, optimizer);
  checkpoint::Checkpoint written = writeAndRead(model, optimizer);
  for (auto& [name, bytes] : written.files) {
    if (name == "optimizer.safetensors") {
      name = "optimizer.pt";
      bytes = optimizerBytes(optimizer);
    }
  }
  auto restored = smallModel();
  torch::optim::AdamW fresh(restored->parameters(),
                            torch::optim::AdamWOptions(0.5).weight_decay(0.25));
  restoreTraining(written.files, written.path, *restored, fresh);
  expectSameState(model, optimizer, restored, fresh);
  const auto& settings =
      static_cast<const torch::optim::AdamWOptions&>(fresh.param_groups().front().options());
  EXPECT_DOUBLE_EQ(settings.lr(), 0.5);
  EXPECT_DOUBLE_EQ(settings.weight_decay(), 0.25);
}

TEST_F(TrainingCheckpoint, OtherOptimizersKeepLibTorchsArchive) {
  auto model = smallModel();
  torch::optim::Adagrad optimizer(model->parameters(), torch::optim::AdagradOptions(0.1));
  train(model, optimizer);
  const checkpoint::Checkpoint written = writeAndRead(model, optimizer);
  EXPECT_TRUE(pathExists(dir_ + "/step-000000002/optimizer.pt"));
  auto restored = smallModel();
  torch::optim::Adagrad fresh(restored->parameters(), torch::optim::AdagradOptions(0.1));
  restoreTraining(written.files, written.path, *restored, fresh);
  const auto first = model->parameters();
  const auto second = restored->parameters();
  for (size_t p = 0; p < first.size(); ++p) {
    const auto& one = static_cast<const torch::optim::AdagradParamState&>(
        *optimizer.state().at(first[p].unsafeGetTensorImpl()));
    const auto& other = static_cast<const torch::optim::AdagradParamState&>(
        *fresh.state().at(second[p].unsafeGetTensorImpl()));
    EXPECT_TRUE(one.sum().equal(other.sum()));
  }
}

// SGD without momentum keeps no state: the file holds its header only.
TEST_F(TrainingCheckpoint, StatelessSgdWritesAnEmptyStateFile) {
  auto model = smallModel();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1));
  train(model, optimizer);
  ASSERT_TRUE(optimizer.state().empty());
  const checkpoint::Checkpoint written = writeAndRead(model, optimizer);
  auto restored = smallModel();
  torch::optim::SGD fresh(restored->parameters(), torch::optim::SGDOptions(0.1));
  restoreTraining(written.files, written.path, *restored, fresh);
  EXPECT_TRUE(fresh.state().empty());
  EXPECT_TRUE(model->ptr(0)->as<torch::nn::Linear>()->weight.equal(
      restored->ptr(0)->as<torch::nn::Linear>()->weight));
}

// An optimizer over part of the model (the rest frozen): only its parameters have state.
TEST_F(TrainingCheckpoint, ParametersWithoutStateStayWithout) {
  auto model = smallModel();
  torch::optim::AdamW optimizer(model->ptr(1)->parameters(), torch::optim::AdamWOptions(0.01));
  train(model, optimizer);
  const checkpoint::Checkpoint written = writeAndRead(model, optimizer);
  auto restored = smallModel();
  torch::optim::AdamW fresh(restored->ptr(1)->parameters(), torch::optim::AdamWOptions(0.01));
  restoreTraining(written.files, written.path, *restored, fresh);
  EXPECT_EQ(fresh.state().size(), 2u);
  for (const at::Tensor& parameter : restored->ptr(0)->parameters()) {
    EXPECT_EQ(fresh.state().count(parameter.unsafeGetTensorImpl()), 0u);
  }
}

// What optimizer.safetensors cannot name or hold goes to LibTorch's archive: AMSGrad's third
// tensor, and tensors the optimizer updates outside the model.
TEST_F(TrainingCheckpoint, AmsGradAndTensorsOutsideTheModelKeepLibTorchsArchive) {
  auto model = smallModel();
  torch::optim::AdamW amsgrad(model->parameters(), torch::optim::AdamWOptions(0.01).amsgrad(true));
  train(model, amsgrad);
  writeAndRead(model, amsgrad);
  EXPECT_TRUE(pathExists(dir_ + "/step-000000002/optimizer.pt"));
  removeTree(dir_);

  at::Tensor outside = torch::zeros({3}, torch::requires_grad());
  std::vector<at::Tensor> parameters = model->parameters();
  parameters.push_back(outside);
  torch::optim::SGD sgd(parameters, torch::optim::SGDOptions(0.1).momentum(0.9));
  train(model, sgd);
  writeAndRead(model, sgd);
  EXPECT_TRUE(pathExists(dir_ + "/step-000000002/optimizer.pt"));
}

// State restored into an optimizer over other tensors (a sharded DataParallel's slices) would be
// dropped without a word.
TEST_F(TrainingCheckpoint, StateForTensorsTheOptimizerDoesNotUpdateIsRefused) {
  auto model = smallModel();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(0.01));
  train(model, optimizer);
  const checkpoint::Checkpoint written = writeAndRead(model, optimizer);
  auto restored = smallModel();
  torch::optim::AdamW elsewhere(std::vector<at::Tensor>{torch::zeros({4}, torch::requires_grad())},
                                torch::optim::AdamWOptions(0.01));
  const std::string message = testing::userErrorOf(
      [&] { restoreTraining(written.files, written.path, *restored, elsewhere); });
  EXPECT_NE(message.find("which the optimizer does not update"), std::string::npos) << message;
}

TEST_F(TrainingCheckpoint, AnotherOptimizersStateIsRefusedByName) {
  auto model = smallModel();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(0.01));
  train(model, optimizer);
  const checkpoint::Checkpoint written = writeAndRead(model, optimizer);
  auto restored = smallModel();
  torch::optim::SGD sgd(restored->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  const std::string message =
      testing::userErrorOf([&] { restoreTraining(written.files, written.path, *restored, sgd); });
  EXPECT_NE(message.find("optimizer.safetensors holds the state of --optimizer adamw"),
            std::string::npos)
      << message;
}

TEST_F(TrainingCheckpoint, StateOfAnotherModelIsRefused) {
  auto model = smallModel();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(0.01));
  train(model, optimizer);
  const checkpoint::Checkpoint written = writeAndRead(model, optimizer);
  torch::nn::Sequential other(torch::nn::Linear(5, 4), torch::nn::Linear(4, 2));
  torch::optim::AdamW fresh(other->parameters(), torch::optim::AdamWOptions(0.01));
  const std::string message =
      testing::userErrorOf([&] { restoreTraining(written.files, written.path, *other, fresh); });
  EXPECT_NE(message.find("a different model?"), std::string::npos) << message;
}

}  // namespace
}  // namespace ringtrain::train
