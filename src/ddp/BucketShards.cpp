#include "ddp/BucketShards.h"

#include <algorithm>

#include "ringtrain/util/Error.h"

namespace ringtrain::ddp {

std::vector<BucketShard> shardBuckets(const std::vector<BucketSpec>& buckets, int ranks, int rank) {
  RINGTRAIN_CHECK(ranks > 0 && rank >= 0 && rank < ranks,
                  "rank " << rank << " of " << ranks << " ranks");
  std::vector<BucketShard> shards;
  shards.reserve(buckets.size());
  for (const BucketSpec& bucket : buckets) {
    BucketShard shard;
    shard.span = comm::shardSpans(bucket.numel, ranks)[static_cast<size_t>(rank)];
    for (const BucketEntry& entry : bucket.entries) {
      const int64_t begin = std::max(shard.span.begin, entry.offset);
      const int64_t end = std::min(shard.span.end, entry.offset + entry.numel);
      if (begin >= end) continue;
      shard.pieces.push_back({entry.parameter, begin - entry.offset, begin, end - begin});
    }
    shards.push_back(std::move(shard));
  }
  return shards;
}

}  // namespace ringtrain::ddp
