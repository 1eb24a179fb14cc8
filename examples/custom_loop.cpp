// A model and a training loop of your own, data-parallel through ringtrain:
//   mpirun -np 2 custom_loop [--epochs N] [--checkpoints DIR] [--zero 0|1|2]
// Every rank reads its shard of a synthetic data set, averages gradients with the other ranks,
// and checkpoints each epoch (rank 0 writes); started again with the same --checkpoints it
// resumes. With
// --zero 1 or 2 the ranks share the optimizer's state (and gradients) instead of each holding it.
#include <ringtrain/ringtrain.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

namespace {

// A residual MLP: nothing ringtrain knows about.
struct ResidualMlp : torch::nn::Module {
  ResidualMlp(int64_t inputs, int64_t width, int64_t classes)
      : in(register_module("in", torch::nn::Linear(inputs, width))),
        block(register_module("block", torch::nn::Linear(width, width))),
        norm(register_module("norm", torch::nn::BatchNorm1d(width))),
        out(register_module("out", torch::nn::Linear(width, classes))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor h = torch::relu(in->forward(x));
    return out->forward(h + torch::relu(norm->forward(block->forward(h))));
  }
  torch::nn::Linear in, block;
  torch::nn::BatchNorm1d norm;
  torch::nn::Linear out;
};

}  // namespace

int main(int argc, char** argv) {
  ringtrain::Runtime runtime(argc, argv, {/*device=*/"cpu"});
  int64_t epochs = 3;
  std::string checkpoints;
  int zeroStage = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--epochs") == 0) epochs = std::atoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--checkpoints") == 0) checkpoints = argv[i + 1];
    if (std::strcmp(argv[i], "--zero") == 0) zeroStage = std::atoi(argv[i + 1]);
  }

  ringtrain::data::LoadOptions load;
  load.seed = 7;
  const ringtrain::data::Dataset train =
      ringtrain::data::loadDataset("synthetic:4000:32:4", ringtrain::data::Split::kTrain, load);
  const ringtrain::data::Dataset validation = ringtrain::data::loadDataset(
      "synthetic:1000:32:4", ringtrain::data::Split::kValidation, load);

  torch::manual_seed(1);
  auto model = std::make_shared<ResidualMlp>(32, 64, train.numClasses);
  model->to(runtime.device());
  // Rank 0's parameters everywhere, then gradients averaged every step. The optimizer comes
  // after: with sharding it updates this rank's slices of the parameters.
  ringtrain::DataParallel parallel(runtime, *model, {}, zeroStage);
  torch::optim::SGD optimizer(parallel.optimizerParameters(),
                              torch::optim::SGDOptions(0.05).momentum(0.9));
  if (runtime.isRankZero() && parallel.zeroStage() > 0) {
    int64_t mine = 0;
    int64_t all = 0;
    for (const auto& slice : parallel.optimizerParameters()) mine += slice.numel();
    for (const auto& parameter : model->parameters()) all += parameter.numel();
    std::cout << "--zero " << parallel.zeroStage() << ": rank 0 updates " << mine << " of " << all
              << " parameter elements\n";
  }
  int64_t firstEpoch = 0;
  if (!checkpoints.empty()) {
    if (const auto restored =
            ringtrain::restoreLatestCheckpoint(runtime, parallel, checkpoints, *model, optimizer)) {
      firstEpoch = restored->state.value("epoch", 0) + 1;
      if (runtime.isRankZero()) std::cout << "resumed from " << restored->path << "\n";
    }
  }

  const int64_t batchSize = 32;
  for (int64_t epoch = firstEpoch; epoch < epochs; ++epoch) {
    model->train();
    ringtrain::data::ShardSpec shard;
    shard.datasetSize = train.size();
    shard.worldSize = runtime.worldSize();
    shard.rank = runtime.rank();
    shard.seed = 7;
    shard.epoch = epoch;
    shard.dropLast = true;
    const std::vector<int64_t> mine = ringtrain::data::shardIndices(shard);
    double lossSum = 0;
    int64_t steps = 0;
    for (size_t first = 0; first + batchSize <= mine.size(); first += batchSize) {
      const torch::Tensor rows = torch::tensor(
          std::vector<int64_t>(mine.begin() + first, mine.begin() + first + batchSize));
      const torch::Tensor x = train.features.index_select(0, rows).to(runtime.device());
      const torch::Tensor y = train.labels.index_select(0, rows).to(runtime.device());
      parallel.zeroGrad();
      parallel.prepareForBackward();
      const torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      loss.backward();
      lossSum += parallel.finishBackward({loss.item<double>()})[0];
      optimizer.step();
      parallel.finishStep();
      ++steps;
    }
    // Every rank scores its share of the validation set; the counts are summed over the ranks.
    parallel.averageBuffers();
    model->eval();
    torch::NoGradGuard noGrad;
    const std::vector<int64_t> rows =
        ringtrain::data::evaluationIndices(validation.size(), runtime.worldSize(), runtime.rank());
    const torch::Tensor index = torch::tensor(rows);
    torch::Tensor counts = torch::zeros({2}, torch::kDouble);
    const torch::Tensor logits =
        model->forward(validation.features.index_select(0, index).to(runtime.device()));
    counts[0] = logits.argmax(1).cpu().eq(validation.labels.index_select(0, index)).sum();
    counts[1] = static_cast<double>(rows.size());
    runtime.controlCommunicator().allReduce(counts, ringtrain::comm::ReduceOp::kSum);
    if (runtime.isRankZero()) {
      std::cout << "epoch " << epoch + 1 << " loss=" << lossSum / steps
                << " val_accuracy=" << (counts[0] / counts[1]).item<double>() << std::endl;
    }
    // Every rank: with sharding the others send rank 0 their parts of the optimizer state.
    if (!checkpoints.empty()) {
      ringtrain::saveCheckpoint(runtime, parallel, checkpoints, epoch + 1, *model, optimizer,
                                {{"epoch", epoch}});
    }
  }
  return 0;
}
