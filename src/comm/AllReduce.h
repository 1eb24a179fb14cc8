// Allreduce algorithms on top of any Communicator.
//
// kNative asks the backend (MPI_Allreduce, ncclAllReduce). kRing is ringtrain's own
// bandwidth-optimal ring: a reduce-scatter and an allgather of size() - 1 steps each, in which
// every rank sends one segment (about 1/size of the data; shardSpans) to its right neighbour and
// receives one from its left. Each step's segment travels in pieces, and a piece is reduced as soon
// as it lands while the later pieces are still in flight. Every element crosses 2(size-1)/size
// links, the lower bound for allreduce, so its bus bandwidth is directly comparable with the
// backend's.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ringtrain/comm/Communicator.h"
#include "util/NameTable.h"

namespace ringtrain::comm {

const NameTable<AllReduceAlgorithm>& allReduceAlgorithmNames();  // auto, native, ring
std::string algorithmName(AllReduceAlgorithm algorithm);

// Half-open element range [begin, end).
struct Span {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t length() const { return end - begin; }
};

// Splits `count` elements into `parts` contiguous spans whose lengths differ by at most one (the
// first count % parts spans are the longer ones). Spans may be empty when count < parts.
std::vector<Span> splitEvenly(int64_t count, int parts);

// Elements a shard's length is a multiple of (64 bytes of float32, 32 of half): counted in
// elements, not bytes, so that a bucket sent as fp16 and its float32 parameters share one
// geometry; shards start at this alignment relative to the tensor's first element.
inline constexpr int64_t kShardAlignElements = 16;

// The `parts` shards of `count` elements: shard s is [s * L, (s + 1) * L) clipped to `count`, with
// L = ceil(count / parts) rounded up to a multiple of `alignElements`. The ring's segments (rank r
// ends its reduce-scatter holding segment r), and so the slices that ranks own when gradients and
// optimizer state are sharded: one geometry, so that a sharded step adds in the same order as the
// ring's allreduce. Later shards may be shorter, or empty for small counts; the first is never
// shorter than another.
std::vector<Span> shardSpans(int64_t count, int parts, int64_t alignElements = kShardAlignElements);

// Which segment a rank sends and receives at each step; pure, so the schedule is unit-tested.
// Reduce-scatter: after step size-2, `rank` holds the full reduction of segment ownedSegment(),
// its own: segment `rank`. Allgather: it then passes the finished segments on until every rank
// holds all of them.
struct RingSchedule {
  int rank = 0;
  int size = 1;
  int ownedSegment() const { return rank; }
  int reduceScatterSend(int step) const { return wrap(rank - step - 1); }
  int reduceScatterReceive(int step) const { return wrap(rank - step - 2); }
  int allGatherSend(int step) const { return wrap(rank - step); }
  int allGatherReceive(int step) const { return wrap(rank - step - 1); }

 private:
  int wrap(int segment) const { return ((segment % size) + size) % size; }
};

// In place, on `comm`'s device. kAvg needs a floating-point tensor.
void ringAllReduce(Communicator& comm, at::Tensor& tensor, ReduceOp op,
                   const RingOptions& options = {});
// The ring's two halves, each on its own: the same transfers and the same additions as
// ringAllReduce, so that a reduce-scatter followed by an all-gather gives its result bit for bit.
// ringReduceScatter leaves this rank's shard (shardSpans(numel, size)[rank] of the flattened
// tensor) holding the reduction over all ranks, and partial sums elsewhere; ringAllGather fills
// every shard with its owner's values.
void ringReduceScatter(Communicator& comm, at::Tensor& tensor, ReduceOp op,
                       const RingOptions& options = {});
void ringAllGather(Communicator& comm, at::Tensor& tensor, const RingOptions& options = {});

// Bus bandwidth = algorithm bandwidth x 2(ranks-1)/ranks: the share of the data each rank must
// send at the least, so that busbw compares with the link's bandwidth (the nccl-tests convention).
double allReduceBusFactor(int ranks);
// The same for a reduce-scatter or an all-gather alone: each rank sends (ranks-1)/ranks of the
// data.
double reduceScatterBusFactor(int ranks);

// What kAuto (or any algorithm) means for a message of `bytes` on `comm`.
AllReduceAlgorithm resolveAlgorithm(AllReduceAlgorithm algorithm, const Communicator& comm,
                                    int64_t bytes, const RingOptions& options = {});
void allReduceWith(AllReduceAlgorithm algorithm, Communicator& comm, at::Tensor& tensor,
                   ReduceOp op, const RingOptions& options = {});

}  // namespace ringtrain::comm
