// The two halves of an allreduce, over the shards of comm::shardSpans: the collectives of sharded
// data parallelism. A bucket's gradients are reduce-scattered so that each rank holds the reduced
// values of its own shard, and the parameters each rank updated are all-gathered back.
//
// kRing is the ring's own halves (bit for bit the ring's allreduce, split); kNative (and kAuto
// where it means native) is the backend's reduce-scatter and all-gather (MPI_Reduce_scatter_block,
// ncclReduceScatter; MPI_Allgather, ncclAllGather), which need equal parts: where the shards are
// not all of one length, the tensor (or the short shard) is padded for them, at the cost of a
// copy; the later steps allocate buckets at the padded length, which saves it.
#pragma once

#include <ATen/core/Tensor.h>

#include "comm/AllReduce.h"

namespace ringtrain::comm {

// In place on the flattened, contiguous `tensor`: afterwards its shard shardSpans(numel,
// size)[rank] holds the reduction over all ranks (kAvg divided by the ranks); what the rest holds
// is unspecified.
void reduceScatterShards(AllReduceAlgorithm algorithm, Communicator& comm, at::Tensor& tensor,
                         ReduceOp op, const RingOptions& options = {});

// In place: every rank's shard of `tensor`, as its owner holds it, lands on every rank.
void allGatherShards(AllReduceAlgorithm algorithm, Communicator& comm, at::Tensor& tensor,
                     const RingOptions& options = {});

}  // namespace ringtrain::comm
