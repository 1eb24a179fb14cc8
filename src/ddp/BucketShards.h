// Which part of every bucket a rank owns when gradients and optimizer state are sharded across the
// ranks of a data-parallel group (ZeRO stages 1 and 2). Pure arithmetic on the bucket plan, so
// every rank computes every rank's shard and the plan is unit-tested on its own.
//
// Each rank owns one contiguous slice of each bucket: the bucket's shard of the ring's geometry
// (comm::shardSpans), which is where a reduce-scatter leaves the bucket's reduced gradients. A
// bucket's reduce-scatter can start as soon as backward fills it, every rank owns 1/W of every
// bucket to within the shards' 16-element alignment (a bucket of a few elements leaves the later
// ranks nothing), and no tensor has to divide by the number of ranks: a slice may start or end
// inside a parameter, and the pieces say where.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "comm/AllReduce.h"
#include "ringtrain/ddp/ReducerOptions.h"

namespace ringtrain::ddp {

// A part of one parameter inside an owned slice.
struct ShardPiece {
  size_t parameter = 0;         // index into the parameter list
  int64_t parameterOffset = 0;  // first element inside the (flattened) parameter
  int64_t bucketOffset = 0;     // first element inside the bucket
  int64_t numel = 0;
};

struct BucketShard {
  comm::Span span;                 // the owned elements of the bucket
  std::vector<ShardPiece> pieces;  // the parameters' parts inside `span`, in bucket order
};

// Rank `rank`'s shard of each bucket, in bucket order, among `ranks` ranks.
std::vector<BucketShard> shardBuckets(const std::vector<BucketSpec>& buckets, int ranks, int rank);

}  // namespace ringtrain::ddp
