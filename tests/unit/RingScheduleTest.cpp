// The ring's arithmetic, checked by simulating it on sets of contributing ranks: every segment must
// end up with every rank's contribution exactly once, on every rank.
#include <gtest/gtest.h>

#include <set>

#include "comm/AllReduce.h"

namespace ringtrain::comm {
namespace {

TEST(SplitEvenly, CoversTheRangeWithLengthsDifferingByAtMostOne) {
  for (int64_t count : {0, 1, 2, 7, 64, 1001}) {
    for (int parts : {1, 2, 3, 5, 8}) {
      const std::vector<Span> spans = splitEvenly(count, parts);
      ASSERT_EQ(static_cast<int>(spans.size()), parts);
      int64_t next = 0;
      for (size_t i = 0; i < spans.size(); ++i) {
        EXPECT_EQ(spans[i].begin, next);
        const int64_t expected = count / parts + (static_cast<int64_t>(i) < count % parts ? 1 : 0);
        EXPECT_EQ(spans[i].length(), expected) << count << "/" << parts << " part " << i;
        next = spans[i].end;
      }
      EXPECT_EQ(next, count);
    }
  }
}

TEST(ShardSpans, AlignedContiguousShardsCoverTheRangeTheFirstLongest) {
  for (int64_t count : {0, 1, 15, 16, 17, 100, 1001, 65537}) {
    for (int parts : {1, 2, 3, 4, 5, 8}) {
      for (int64_t align : {1, 16}) {
        const std::vector<Span> spans = shardSpans(count, parts, align);
        ASSERT_EQ(static_cast<int>(spans.size()), parts);
        int64_t next = 0;
        for (const Span& span : spans) {
          EXPECT_EQ(span.begin, next);
          EXPECT_EQ(span.begin % align == 0 || span.begin == count, true) << span.begin;
          EXPECT_LE(span.length(), spans.front().length());
          next = span.end;
        }
        EXPECT_EQ(next, count) << count << "/" << parts;
        // Balanced up to the alignment: no shard is longer than ceil(count / parts) + align - 1.
        EXPECT_LE(spans.front().length(), (count + parts - 1) / parts + align - 1);
      }
    }
  }
  // Small tensors: aligned shards leave the later ranks nothing.
  const std::vector<Span> small = shardSpans(20, 4, 16);
  EXPECT_EQ(small[0].length(), 16);
  EXPECT_EQ(small[1].length(), 4);
  EXPECT_EQ(small[2].length(), 0);
  EXPECT_EQ(small[3].begin, 20);
  // Without alignment: shards of ceil(count / parts), the remainder in the last.
  EXPECT_EQ(shardSpans(10, 4, 1)[3].length(), 1);
}

TEST(RingSchedule, EachRankOwnsTheSegmentOfItsRank) {
  for (int size = 1; size <= 8; ++size) {
    for (int r = 0; r < size; ++r) EXPECT_EQ(RingSchedule({r, size}).ownedSegment(), r);
  }
}

using Contributions = std::vector<std::vector<std::multiset<int>>>;  // [rank][segment]

TEST(RingSchedule, EveryRankEndsWithEveryContributionExactlyOnce) {
  for (int size = 1; size <= 8; ++size) {
    Contributions held(size, std::vector<std::multiset<int>>(size));
    for (int r = 0; r < size; ++r) {
      for (int s = 0; s < size; ++s) held[r][s] = {r};
    }
    for (int step = 0; step < size - 1; ++step) {
      Contributions next = held;
      for (int r = 0; r < size; ++r) {
        const RingSchedule sender{r, size};
        const RingSchedule receiver{(r + 1) % size, size};
        const int segment = sender.reduceScatterSend(step);
        ASSERT_EQ(segment, receiver.reduceScatterReceive(step)) << "size " << size;
        next[receiver.rank][segment].insert(held[r][segment].begin(), held[r][segment].end());
      }
      held = next;
    }
    std::multiset<int> everyone;
    for (int r = 0; r < size; ++r) everyone.insert(r);
    for (int r = 0; r < size; ++r) {
      const int owned = RingSchedule{r, size}.ownedSegment();
      EXPECT_EQ(held[r][owned], everyone) << "size " << size;
    }
    for (int step = 0; step < size - 1; ++step) {
      Contributions next = held;
      for (int r = 0; r < size; ++r) {
        const RingSchedule sender{r, size};
        const RingSchedule receiver{(r + 1) % size, size};
        const int segment = sender.allGatherSend(step);
        ASSERT_EQ(segment, receiver.allGatherReceive(step));
        EXPECT_EQ(held[r][segment], everyone) << "only finished segments are passed on";
        next[receiver.rank][segment] = held[r][segment];
      }
      held = next;
    }
    for (int r = 0; r < size; ++r) {
      for (int s = 0; s < size; ++s)
        EXPECT_EQ(held[r][s], everyone) << size << " " << r << " " << s;
    }
  }
}

}  // namespace
}  // namespace ringtrain::comm
