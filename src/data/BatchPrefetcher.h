// The micro-batches of one epoch, assembled ahead of the training loop by worker threads and
// handed out strictly in order, so the samples and their order do not depend on the number of
// workers: training with 0 and 4 workers gives identical weights.
//
// Memory stays bounded: at most `depth` batches are assembled and not yet taken. Whatever the
// number of workers, the rows of the batch `depth` ahead are announced to the source
// (willGather), so reads from disk start before they are needed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/SampleSource.h"

namespace ringtrain::data {

struct PrefetchOptions {
  int workers = 0;      // threads assembling batches; 0: next() assembles on the caller's thread
  int depth = 2;        // batches assembled ahead (at least 1)
  bool pinned = false;  // batches in page-locked memory, for asynchronous copies to a GPU
};

class BatchPrefetcher {
 public:
  // Batch b holds rows[b x batchSize, min((b+1) x batchSize, rows.size())).
  BatchPrefetcher(std::shared_ptr<const SampleSource> source, std::vector<int64_t> rows,
                  int64_t batchSize, const PrefetchOptions& options);
  ~BatchPrefetcher();  // stops the workers; batches not taken are dropped
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  int64_t batches() const { return batches_; }
  // The next batch in order; rethrows an error a worker met assembling it.
  Batch next();
  // Seconds next() has spent waiting for a batch that was not ready (or assembling it, without
  // workers): the time the input pipeline cost the loop.
  double waitSeconds() const { return waitSeconds_; }

 private:
  struct Slot {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };

  Batch assemble(int64_t batch) const;
  void announce(int64_t batch) const;
  void work(int worker);
  void stop();

  std::shared_ptr<const SampleSource> source_;
  std::vector<int64_t> rows_;
  int64_t batchSize_;
  int64_t batches_;
  PrefetchOptions options_;
  double waitSeconds_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Slot> slots_;  // batch b waits in slot b % depth
  int64_t taken_ = 0;        // batches handed out so far
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace ringtrain::data
