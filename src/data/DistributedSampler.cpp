#include "ringtrain/data/DistributedSampler.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <numeric>

#include "ringtrain/util/Error.h"

namespace ringtrain::data {
namespace {

void validate(const ShardSpec& spec) {
  RINGTRAIN_USER_CHECK(spec.worldSize >= 1,
                       "world size must be at least 1, got " << spec.worldSize);
  RINGTRAIN_USER_CHECK(spec.rank >= 0 && spec.rank < spec.worldSize,
                       "rank " << spec.rank << " is outside a world of " << spec.worldSize);
  RINGTRAIN_USER_CHECK(spec.datasetSize >= 0, "dataset size must not be negative");
  RINGTRAIN_USER_CHECK(spec.epoch >= 0, "epoch must not be negative");
  RINGTRAIN_USER_CHECK(
      spec.firstSample >= 0 && spec.firstSample <= spec.datasetSize,
      "sample position " << spec.firstSample << " is outside an epoch of " << spec.datasetSize);
}

std::vector<int64_t> epochOrder(const ShardSpec& spec) {
  std::vector<int64_t> order(static_cast<size_t>(spec.datasetSize));
  if (!spec.shuffle) {
    std::iota(order.begin(), order.end(), int64_t{0});
    return order;
  }
  // Same generator and call as Python's torch.randperm(n, generator=g) with
  // g.manual_seed(seed+epoch).
  at::Generator generator =
      at::make_generator<at::CPUGeneratorImpl>(spec.seed + static_cast<uint64_t>(spec.epoch));
  at::Tensor permutation = at::randperm(spec.datasetSize, generator, at::kLong);
  const auto* values = permutation.data_ptr<int64_t>();
  std::copy(values, values + spec.datasetSize, order.begin());
  return order;
}

}  // namespace

int64_t samplesPerRank(int64_t samples, int worldSize, bool dropLast) {
  if (dropLast) return samples / worldSize;
  return (samples + worldSize - 1) / worldSize;
}

std::vector<int64_t> shardIndices(const ShardSpec& spec) {
  validate(spec);
  const int64_t perRank =
      samplesPerRank(spec.datasetSize - spec.firstSample, spec.worldSize, spec.dropLast);
  const int64_t end = spec.firstSample + perRank * spec.worldSize;
  std::vector<int64_t> shard;
  shard.reserve(static_cast<size_t>(perRank));
  if (perRank == 0) return shard;
  const std::vector<int64_t> order = epochOrder(spec);
  for (int64_t position = spec.firstSample + spec.rank; position < end;
       position += spec.worldSize) {
    // Positions past the end wrap to the start: that is PyTorch's padding, repeated as needed.
    shard.push_back(order[static_cast<size_t>(position % spec.datasetSize)]);
  }
  return shard;
}

std::vector<int64_t> evaluationIndices(int64_t datasetSize, int worldSize, int rank) {
  validate(ShardSpec{datasetSize, worldSize, rank});
  std::vector<int64_t> shard;
  for (int64_t index = rank; index < datasetSize; index += worldSize) shard.push_back(index);
  return shard;
}

}  // namespace ringtrain::data
