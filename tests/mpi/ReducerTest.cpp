// The reducer against the single-process reference: every rank also computes the gradient of the
// whole global batch by itself, and the reduced gradients must match it.
#include "ddp/Reducer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "MpiTestEnvironment.h"
#include "ringtrain/comm/Agreement.h"

namespace ringtrain::ddp {
namespace {

comm::Communicator& world() {
  return testing::worldCommunicator();
}

constexpr int64_t kRows = 6;  // per rank
constexpr int64_t kInputs = 5;

// Two linear layers and, optionally, a third that forward leaves out on the ranks listed.
struct SmallNet : torch::nn::Module {
  SmallNet() {
    first = register_module("first", torch::nn::Linear(kInputs, 9));
    second = register_module("second", torch::nn::Linear(9, 3));
    spare = register_module("spare", torch::nn::Linear(3, 3));
  }
  at::Tensor forward(const at::Tensor& x, bool useSpare) {
    at::Tensor h = second->forward(at::tanh(first->forward(x)));
    return useSpare ? spare->forward(h) : h;
  }
  torch::nn::Linear first{nullptr}, second{nullptr}, spare{nullptr};
};

std::shared_ptr<SmallNet> makeNet() {
  at::manual_seed(7);  // the same weights on every rank and in every test
  return std::make_shared<SmallNet>();
}

NamedParameters namedParameters(torch::nn::Module& net) {
  NamedParameters parameters;
  for (const auto& item : net.named_parameters()) parameters.emplace_back(item.key(), item.value());
  return parameters;
}

// Rows of rank r for micro-step m: a fixed function of (r, m), so any rank can build anyone's.
at::Tensor batchOf(int rank, int step) {
  at::manual_seed(1000 + 31 * static_cast<uint64_t>(rank) + static_cast<uint64_t>(step));
  return at::randn({kRows, kInputs});
}

at::Tensor lossOf(SmallNet& net, const at::Tensor& x, bool useSpare = true) {
  return net.forward(x, useSpare).pow(2).mean();
}

// Gradients of the mean loss over every rank's batch, computed in one process.
std::vector<at::Tensor> referenceGradients(int step) {
  auto net = makeNet();
  std::vector<at::Tensor> batches;
  for (int r = 0; r < world().size(); ++r) batches.push_back(batchOf(r, step));
  lossOf(*net, at::cat(batches)).backward();
  std::vector<at::Tensor> grads;
  for (const auto& p : net->parameters()) grads.push_back(p.grad().clone());
  return grads;
}

std::vector<at::Tensor> gradientsAfterOneStep(const ReducerOptions& options, int step = 0) {
  auto net = makeNet();
  Reducer reducer(world(), namedParameters(*net), options);
  reducer.zeroGradients();
  reducer.prepareForBackward(true);
  lossOf(*net, batchOf(world().rank(), step)).backward();
  reducer.finishBackward(at::zeros({1}));
  std::vector<at::Tensor> grads;
  for (const auto& p : net->parameters()) grads.push_back(p.grad().clone());
  return grads;
}

void expectClose(const std::vector<at::Tensor>& actual, const std::vector<at::Tensor>& expected,
                 double tolerance = 1e-5) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_TRUE(at::allclose(actual[i], expected[i], tolerance, tolerance))
        << "parameter " << i << ": max difference "
        << (actual[i] - expected[i]).abs().max().item<double>();
  }
}

void expectIdentical(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equal(b[i])) << "parameter " << i;
}

ReducerOptions withBuckets(int64_t bytes, bool overlap) {
  ReducerOptions options;
  options.limits = {bytes, bytes};
  options.overlap = overlap;
  return options;
}

TEST(Reducer, MatchesSingleProcessGradientsForAnyBucketSize) {
  const auto expected = referenceGradients(0);
  for (const int64_t bytes : {int64_t{4}, int64_t{100}, int64_t{1} << 20}) {
    for (const bool overlap : {true, false}) {
      SCOPED_TRACE("bucket bytes " + std::to_string(bytes) + (overlap ? " overlap" : ""));
      expectClose(gradientsAfterOneStep(withBuckets(bytes, overlap)), expected);
    }
  }
}

TEST(Reducer, OverlapAndNoOverlapGiveBitIdenticalGradients) {
  for (const int64_t bytes : {int64_t{16}, int64_t{1} << 20}) {
    expectIdentical(gradientsAfterOneStep(withBuckets(bytes, true)),
                    gradientsAfterOneStep(withBuckets(bytes, false)));
  }
}

TEST(Reducer, RingMatchesNative) {
  ReducerOptions ring = withBuckets(64, true);
  ring.algorithm = comm::AllReduceAlgorithm::kRing;
  ring.ring.pieceBytes = 8;
  expectClose(gradientsAfterOneStep(ring), gradientsAfterOneStep(withBuckets(64, true)), 1e-6);
}

TEST(Reducer, HooksFireOncePerParameterPerStepAndEveryBucketIsReduced) {
  auto net = makeNet();
  const NamedParameters parameters = namedParameters(*net);
  Reducer reducer(world(), parameters, withBuckets(64, true));
  const int steps = 3;
  for (int step = 0; step < steps; ++step) {
    reducer.zeroGradients();
    reducer.prepareForBackward(true);
    lossOf(*net, batchOf(world().rank(), step)).backward();
    reducer.finishBackward(at::zeros({1}));
  }
  const auto buckets = static_cast<int64_t>(reducer.buckets().size());
  EXPECT_GT(buckets, 1);
  EXPECT_EQ(reducer.stats().hookCalls, steps * static_cast<int64_t>(parameters.size()));
  EXPECT_EQ(reducer.stats().steps, steps);
  EXPECT_EQ(reducer.stats().bucketsReduced, world().size() > 1 ? steps * buckets : 0);
}

TEST(Reducer, GradientsAreViewsIntoBucketStorage) {
  auto net = makeNet();
  Reducer reducer(world(), namedParameters(*net), withBuckets(1 << 20, true));
  ASSERT_EQ(reducer.buckets().size(), 1u);
  if (world().size() == 1) GTEST_SKIP() << "one rank reduces nothing and leaves gradients alone";
  std::vector<const void*> before;
  for (const auto& p : net->parameters()) before.push_back(p.grad().data_ptr());
  for (int step = 0; step < 2; ++step) {
    reducer.zeroGradients();
    reducer.prepareForBackward(true);
    lossOf(*net, batchOf(world().rank(), step)).backward();
    reducer.finishBackward(at::zeros({1}));
  }
  // One bucket: the gradients lie where the plan puts them in one allocation and never move.
  const auto params = net->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i].grad().data_ptr(), before[i]);
  const auto* lowest = static_cast<const char*>(params.back().grad().data_ptr());
  for (const BucketEntry& entry : reducer.buckets().front().entries) {
    EXPECT_EQ(static_cast<const char*>(params[entry.parameter].grad().data_ptr()),
              lowest + entry.offset * 4);
    EXPECT_EQ(entry.offset * 4 % kEntryAlignBytes, 0);
  }
}

// A bucket of one parameter is reduced in the gradient autograd produced, and with one rank no
// gradient is moved: neither becomes a view into a bucket. Gradients sharing a bucket are views.
TEST(Reducer, OnlyGradientsSharingABucketAreCopiedIntoIt) {
  auto net = makeNet();
  // first.weight (180 bytes) is over half of 320, so alone; the others share one, which stays
  // under 320 bytes until first.bias (entries start on 64-byte boundaries: 356 bytes in all).
  Reducer reducer(world(), namedParameters(*net), withBuckets(320, true));
  for (int step = 0; step < 2; ++step) {
    reducer.zeroGradients();
    reducer.prepareForBackward(true);
    lossOf(*net, batchOf(world().rank(), step)).backward();
    reducer.finishBackward(at::zeros({1}));
  }
  const auto named = namedParameters(*net);
  size_t shared = 0;
  for (const BucketSpec& bucket : reducer.buckets()) {
    for (const BucketEntry& entry : bucket.entries) {
      const auto& [name, parameter] = named[entry.parameter];
      const bool copied = world().size() > 1 && bucket.entries.size() > 1;
      EXPECT_EQ(parameter.grad().is_view(), copied) << name;
      shared += bucket.entries.size() > 1;
    }
  }
  EXPECT_EQ(shared, named.size() - 1);
  ASSERT_EQ(reducer.buckets().size(), 2u);
  EXPECT_EQ(reducer.buckets().back().entries.size(), 1u);
}

TEST(Reducer, AccumulatesMicroStepsAndReducesOnlyOnTheLast) {
  auto net = makeNet();
  Reducer reducer(world(), namedParameters(*net), withBuckets(64, true));
  reducer.zeroGradients();
  for (int micro = 0; micro < 2; ++micro) {
    reducer.prepareForBackward(/*synchronize=*/micro == 1);
    (lossOf(*net, batchOf(world().rank(), micro)) / 2.0).backward();
  }
  reducer.finishBackward(at::zeros({1}));
  EXPECT_EQ(reducer.stats().hookCalls, static_cast<int64_t>(net->parameters().size()));
  EXPECT_EQ(reducer.stats().steps, 1);

  const auto first = referenceGradients(0);
  const auto second = referenceGradients(1);
  std::vector<at::Tensor> expected;
  for (size_t i = 0; i < first.size(); ++i) expected.push_back((first[i] + second[i]) / 2);
  std::vector<at::Tensor> actual;
  for (const auto& p : net->parameters()) actual.push_back(p.grad());
  expectClose(actual, expected);
}

TEST(Reducer, AveragesScalars) {
  auto net = makeNet();
  Reducer reducer(world(), namedParameters(*net), {});
  reducer.zeroGradients();
  reducer.prepareForBackward(true);
  lossOf(*net, batchOf(world().rank(), 0)).backward();
  const at::Tensor mean = reducer.finishBackward(at::tensor({float(world().rank()), 2.f}));
  EXPECT_TRUE(at::allclose(mean, at::tensor({(world().size() - 1) / 2.0f, 2.f})));
}

// Sharded gradients (ZeRO 1 and 2): each rank's shard of each bucket holds, to the bit, what the
// ring's allreduce leaves there, with buckets of one and of several parameters, over two
// micro-steps; stage 2 keeps nothing but its shards.
TEST(Reducer, ShardedGradientsAreTheRingAllReducesShards) {
  if (world().size() == 1) GTEST_SKIP() << "sharding needs two ranks or more";
  for (const GradientSharding sharding :
       {GradientSharding::kScatter, GradientSharding::kScatterAndRelease}) {
    ReducerOptions options = withBuckets(320, /*overlap=*/false);
    options.algorithm = comm::AllReduceAlgorithm::kRing;
    auto wholeNet = makeNet();
    auto shardedNet = makeNet();
    Reducer whole(world(), namedParameters(*wholeNet), options);
    Reducer sharded(world(), namedParameters(*shardedNet), options, sharding);
    ASSERT_GT(whole.buckets().size(), 1u);
    const auto train = [](Reducer& reducer, SmallNet& net, int step) {
      reducer.zeroGradients();
      for (int micro = 0; micro < 2; ++micro) {
        reducer.prepareForBackward(micro == 1);
        lossOf(net, batchOf(world().rank(), 2 * step + micro)).backward();
      }
      reducer.finishBackward(at::zeros({1}));
    };
    for (int step = 0; step < 2; ++step) {
      train(whole, *wholeNet, step);
      train(sharded, *shardedNet, step);
      const NamedParameters reduced = namedParameters(*wholeNet);
      for (size_t b = 0; b < whole.buckets().size(); ++b) {
        const BucketSpec& bucket = whole.buckets()[b];
        at::Tensor flat = at::zeros({bucket.numel});
        for (const BucketEntry& entry : bucket.entries) {
          flat.narrow(0, entry.offset, entry.numel)
              .copy_(reduced[entry.parameter].second.grad().reshape(-1));
        }
        const comm::Span own = comm::shardSpans(bucket.numel, world().size())[world().rank()];
        EXPECT_TRUE(at::equal(sharded.ownedGradient(b), flat.narrow(0, own.begin, own.length())))
            << "bucket " << b << ", step " << step;
      }
    }
    if (sharding != GradientSharding::kScatterAndRelease) continue;
    int64_t ownedBytes = 0;
    for (size_t b = 0; b < sharded.buckets().size(); ++b) {
      ownedBytes += sharded.ownedGradient(b).numel() * 4;
    }
    for (const auto& parameter : shardedNet->parameters()) EXPECT_FALSE(parameter.grad().defined());
    EXPECT_EQ(sharded.gradientBytes(), ownedBytes);
    EXPECT_GT(sharded.peakGradientBytes(), ownedBytes);
  }
}

// Stage 2 without overlap, in a step of one backward: a bucket is reduce-scattered and let go as
// soon as it is full, so no more than one is ever whole. After micro-steps that accumulated,
// every whole gradient is held anyway, and the buckets wait for finishBackward.
TEST(Reducer, StageTwoHoldsOneWholeBucketAtATime) {
  if (world().size() == 1) GTEST_SKIP() << "sharding needs two ranks or more";
  for (const int microSteps : {1, 2}) {
    auto net = makeNet();
    Reducer reducer(world(), namedParameters(*net), withBuckets(320, /*overlap=*/false),
                    GradientSharding::kScatterAndRelease);
    ASSERT_GT(reducer.buckets().size(), 1u);
    int64_t owned = 0;
    int64_t largest = 0;
    int64_t all = 0;
    for (size_t b = 0; b < reducer.buckets().size(); ++b) {
      owned += reducer.ownedGradient(b).numel() * 4;
      largest = std::max(largest, reducer.buckets()[b].bytes());
      all += reducer.buckets()[b].bytes();
    }
    reducer.zeroGradients();
    for (int micro = 0; micro < microSteps; ++micro) {
      reducer.prepareForBackward(micro + 1 == microSteps);
      lossOf(*net, batchOf(world().rank(), micro)).backward();
    }
    reducer.finishBackward(at::zeros({1}));
    EXPECT_EQ(reducer.gradientBytes(), owned);
    if (microSteps == 1) {
      EXPECT_LE(reducer.peakGradientBytes(), owned + largest);
    } else {
      EXPECT_EQ(reducer.peakGradientBytes(), owned + all);
    }
  }
}

TEST(Reducer, CompressedGradientsStayWithinTheirPrecision) {
  const auto exact = gradientsAfterOneStep(withBuckets(64, true));
  for (const auto& [compression, tolerance] :
       {std::pair{GradCompression::kFp16, 2e-3}, std::pair{GradCompression::kBf16, 2e-2}}) {
    ReducerOptions options = withBuckets(64, true);
    options.compression = compression;
    const auto compressed = gradientsAfterOneStep(options);
    for (size_t i = 0; i < exact.size(); ++i) {
      const double scale = exact[i].abs().max().item<double>();
      EXPECT_LE((compressed[i] - exact[i]).abs().max().item<double>(), tolerance * scale)
          << compressionName(compression) << " parameter " << i;
    }
  }
}

TEST(Reducer, Fp16CompressionDividesBeforeSumming) {
  // 60000 on every rank: summed first, two ranks would overflow fp16 (max 65504); divided first,
  // the terms are 60000/size and the mean comes back exactly.
  at::Tensor weight = at::zeros({4}).requires_grad_();
  ReducerOptions options;
  options.compression = GradCompression::kFp16;
  Reducer reducer(world(), {{"w", weight}}, options);
  reducer.zeroGradients();
  reducer.prepareForBackward(true);
  (weight * 60000.0).sum().backward();
  reducer.finishBackward(at::zeros({1}));
  EXPECT_TRUE(weight.grad().equal(at::full({4}, 60000.0f))) << weight.grad();
}

TEST(Reducer, UnusedParameterIsAnErrorOnEveryRankNamingIt) {
  auto net = makeNet();
  Reducer reducer(world(), namedParameters(*net), {});
  reducer.zeroGradients();
  reducer.prepareForBackward(true);
  lossOf(*net, batchOf(world().rank(), 0), /*useSpare=*/false).backward();
  try {
    reducer.finishBackward(at::zeros({1}));
    FAIL() << "expected a failure";
  } catch (const comm::CollectiveFailure& failure) {
    EXPECT_EQ(failure.exitCode(), 2);
    EXPECT_EQ(failure.reporter(), world().rank() == 0);
    if (failure.reporter()) {
      EXPECT_NE(std::string(failure.what()).find("'spare.weight'"), std::string::npos)
          << failure.what();
      EXPECT_NE(std::string(failure.what()).find("--find-unused-parameters"), std::string::npos);
    }
  }
}

TEST(Reducer, ParameterUnusedOnOneRankOnlyFailsAllRanksWithoutHanging) {
  auto net = makeNet();
  Reducer reducer(world(), namedParameters(*net), {});
  const int last = world().size() - 1;
  reducer.zeroGradients();
  reducer.prepareForBackward(true);
  lossOf(*net, batchOf(world().rank(), 0), /*useSpare=*/world().rank() != last).backward();
  try {
    reducer.finishBackward(at::zeros({1}));
    FAIL() << "expected a failure";
  } catch (const comm::CollectiveFailure& failure) {
    EXPECT_EQ(failure.reporter(), world().rank() == last);
    if (failure.reporter() && world().size() > 1) {
      EXPECT_NE(std::string(failure.what()).find("on rank " + std::to_string(last)),
                std::string::npos)
          << failure.what();
    }
  }
}

TEST(Reducer, FindUnusedParametersReducesThemAsZeros) {
  ReducerOptions options = withBuckets(64, true);
  options.findUnusedParameters = true;
  auto net = makeNet();
  Reducer reducer(world(), namedParameters(*net), options);
  const int last = world().size() - 1;
  reducer.zeroGradients();
  reducer.prepareForBackward(true);
  // The last rank leaves `spare` out, so its share of spare's mean gradient is zero.
  const bool useSpare = world().rank() != last;
  lossOf(*net, batchOf(world().rank(), 0), useSpare).backward();
  reducer.finishBackward(at::zeros({1}));

  // Reference: sum over the other ranks of their spare gradient, divided by the world size.
  at::Tensor expected = at::zeros_like(net->spare->weight);
  for (int r = 0; r < last; ++r) {
    auto single = makeNet();
    lossOf(*single, batchOf(r, 0)).backward();
    expected += single->spare->weight.grad();
  }
  expected /= world().size();
  EXPECT_TRUE(at::allclose(net->spare->weight.grad(), expected, 1e-5, 1e-6));
}

}  // namespace
}  // namespace ringtrain::ddp
