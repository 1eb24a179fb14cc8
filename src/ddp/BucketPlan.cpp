#include "ddp/BucketPlan.h"

#include <algorithm>
#include <map>

#include "ringtrain/util/Error.h"

namespace ringtrain::ddp {

std::vector<BucketSpec> assignBuckets(const std::vector<ParameterShape>& parameters,
                                      const BucketLimits& limits) {
  RINGTRAIN_CHECK(limits.bucketBytes > 0 && limits.firstBucketBytes > 0,
                  "bucket limits must be positive");
  const int64_t firstLimit = std::min(limits.firstBucketBytes, limits.bucketBytes);
  std::vector<BucketSpec> buckets;
  // One bucket being filled per element type; the first bucket closed overall gets the small
  // limit, as it is the one backward can hand over first.
  std::map<int, BucketSpec> open;
  const auto close = [&](BucketSpec& bucket) {
    buckets.push_back(std::move(bucket));
    bucket = BucketSpec{};
  };
  for (size_t i = parameters.size(); i-- > 0;) {
    const ParameterShape& shape = parameters[i];
    RINGTRAIN_CHECK(shape.numel >= 0 && shape.elementBytes > 0, "parameter " << i << " shape");
    BucketSpec& bucket = open[shape.typeKey];
    const int64_t limit = buckets.empty() ? firstLimit : limits.bucketBytes;
    const bool ownBucket = 2 * shape.numel * shape.elementBytes > limit;
    if (ownBucket && !bucket.entries.empty()) close(bucket);
    if (bucket.entries.empty()) {
      bucket.elementBytes = shape.elementBytes;
      bucket.typeKey = shape.typeKey;
    }
    const int64_t align =
        kEntryAlignBytes % shape.elementBytes == 0 ? kEntryAlignBytes / shape.elementBytes : 1;
    const int64_t offset = (bucket.numel + align - 1) / align * align;
    bucket.entries.push_back({i, offset, shape.numel});
    bucket.numel = offset + shape.numel;
    if (ownBucket || bucket.bytes() >= limit) close(bucket);
  }
  for (auto& [key, bucket] : open) {
    if (!bucket.entries.empty()) close(bucket);
  }
  return buckets;
}

}  // namespace ringtrain::ddp
