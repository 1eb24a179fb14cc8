// The two halves of an allreduce, over the shards of comm::shardSpans: the collectives of sharded
// data parallelism. A bucket's gradients are reduce-scattered so that each rank holds the reduced
// values of its own shard, and the parameters each rank updated are all-gathered back.
//
// kRing is the ring's own halves (bit for bit the ring's allreduce, split); kNative is the
// backend's reduce-scatter and all-gather (MPI_Reduce_scatter_block, ncclReduceScatter;
// MPI_Allgather, ncclAllGather), which need equal parts: where the shards are not all of one
// length, the tensor (or the short shard) is copied into a padded one for them, and the native
// all-gather lands in a new tensor that is copied back. kAuto is the ring from
// kAutoRingHalvesFromBytes for host tensors on MPI, native otherwise (NCCL, and GPU tensors
// staged through the host, where the ring has not been measured).
//
// Open MPI's reduce-scatter and all-gather are far slower here than its allreduce for the same
// bytes (8 MiB over 2 ranks: 3.3 and 2.0 ms against 1.5 ms), while the ring's halves add up to
// its allreduce; the ring overtakes them from about 64 KiB at 2 ranks and 256 KiB at 4
// (`ringtrain bench-comm --collectives reduce-scatter,all-gather`), hence a threshold far below
// the allreduce's 16 MiB.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>

#include "comm/AllReduce.h"

namespace ringtrain::comm {

inline constexpr int64_t kAutoRingHalvesFromBytes = 256 * 1024;

// In place on the flattened, contiguous `tensor`: afterwards its shard shardSpans(numel,
// size)[rank] holds the reduction over all ranks (kAvg divided by the ranks); what the rest holds
// is unspecified.
void reduceScatterShards(AllReduceAlgorithm algorithm, Communicator& comm, at::Tensor& tensor,
                         ReduceOp op, const RingOptions& options = {});
// The same, still running when it returns where the backend's reduce-scatter is (NCCL, on its
// own stream, so that backward goes on meanwhile); wait() leaves the shard in place. `tensor`
// must stay alive until then. The ring's is done when this returns.
std::unique_ptr<PendingTransfer> startReduceScatterShards(AllReduceAlgorithm algorithm,
                                                          Communicator& comm, at::Tensor& tensor,
                                                          ReduceOp op,
                                                          const RingOptions& options = {});

// In place: every rank's shard of `tensor`, as its owner holds it, lands on every rank.
void allGatherShards(AllReduceAlgorithm algorithm, Communicator& comm, at::Tensor& tensor,
                     const RingOptions& options = {});

}  // namespace ringtrain::comm
