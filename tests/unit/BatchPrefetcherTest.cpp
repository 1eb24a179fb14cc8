#include "data/BatchPrefetcher.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>

#include "ringtrain/util/Error.h"

namespace ringtrain::data {
namespace {

// Rows are numbered by their features; gathering row 13 fails when asked to.
class CountingSource final : public SampleSource {
 public:
  explicit CountingSource(bool failOn13) : failOn13_(failOn13) {}
  int64_t size() const override { return 1000; }
  std::vector<int64_t> sampleShape() const override { return {1}; }
  int64_t numClasses() const override { return 1; }
  const std::string& source() const override { return name_; }
  Batch gather(const int64_t* rows, int64_t count, bool) const override {
    gathered_ += count;
    Batch batch{at::empty({count, 1}), at::zeros({count}, at::kLong)};
    for (int64_t i = 0; i < count; ++i) {
      if (failOn13_ && rows[i] == 13) throw UserError("row 13 is unreadable");
      batch.features[i][0] = static_cast<float>(rows[i]);
    }
    return batch;
  }
  void willGather(const int64_t*, int64_t count) const override { announced_ += count; }
  mutable std::atomic<int64_t> announced_{0};
  mutable std::atomic<int64_t> gathered_{0};

 private:
  bool failOn13_;
  std::string name_ = "counting";
};

std::vector<int64_t> shuffledRows(int64_t count) {
  std::vector<int64_t> rows(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) rows[i] = (i * 577) % 1000;
  return rows;
}

TEST(BatchPrefetcher, HandsOutTheSameBatchesInOrderWhateverTheWorkers) {
  const auto source = std::make_shared<CountingSource>(false);
  const std::vector<int64_t> rows = shuffledRows(103);
  for (const int workers : {0, 1, 3, 4}) {
    for (const int depth : {1, 2, 5}) {
      BatchPrefetcher batches(source, rows, 10, {workers, depth, false});
      ASSERT_EQ(batches.batches(), 11);
      for (int64_t b = 0; b < batches.batches(); ++b) {
        const Batch batch = batches.next();
        const int64_t expected = std::min<int64_t>(10, 103 - b * 10);
        ASSERT_EQ(batch.features.size(0), expected) << workers << " workers, batch " << b;
        for (int64_t i = 0; i < expected; ++i)
          ASSERT_EQ(batch.features[i][0].item<float>(), rows[b * 10 + i]);
      }
    }
  }
}

TEST(BatchPrefetcher, AnnouncesEveryRowBeforeItIsNeeded) {
  const auto source = std::make_shared<CountingSource>(false);
  BatchPrefetcher batches(source, shuffledRows(95), 10, {0, 3, false});
  EXPECT_EQ(source->announced_, 30);  // the first `depth` batches, at once
  for (int64_t b = 0; b < batches.batches(); ++b) batches.next();
  EXPECT_EQ(source->announced_, 95);
}

TEST(BatchPrefetcher, AWorkersErrorReachesTheCallerAtItsBatch) {
  const auto source = std::make_shared<CountingSource>(true);
  std::vector<int64_t> rows(50);
  for (int64_t i = 0; i < 50; ++i) rows[i] = i;
  for (const int workers : {0, 2}) {
    BatchPrefetcher batches(source, rows, 4, {workers, 4, false});
    for (int b = 0; b < 3; ++b) EXPECT_NO_THROW(batches.next());
    EXPECT_THROW(batches.next(), UserError);  // batch 3 holds row 13
  }
}

// A prefetcher dropped after its first batch stops its workers where they are: it reads at most
// the batches its queue and workers hold, not the rest of the epoch.
TEST(BatchPrefetcher, StoppingEarlyDoesNotWait) {
  for (int i = 0; i < 20; ++i) {
    const auto source = std::make_shared<CountingSource>(false);
    {
      BatchPrefetcher batches(source, shuffledRows(1000), 1, {4, 8, false});
      batches.next();
    }
    // One batch taken, 8 queued, 4 in the workers' hands: 13 rows of batch size 1.
    EXPECT_LE(source->gathered_.load(), 13) << "round " << i;
  }
}

}  // namespace
}  // namespace ringtrain::data
