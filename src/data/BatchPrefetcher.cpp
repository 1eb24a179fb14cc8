#include "data/BatchPrefetcher.h"

#include <algorithm>
#include <chrono>

#include "ringtrain/util/Error.h"

namespace ringtrain::data {

BatchPrefetcher::BatchPrefetcher(std::shared_ptr<const SampleSource> source,
                                 std::vector<int64_t> rows, int64_t batchSize,
                                 const PrefetchOptions& options)
    : source_(std::move(source)),
      rows_(std::move(rows)),
      batchSize_(batchSize),
      batches_((static_cast<int64_t>(rows_.size()) + batchSize - 1) / batchSize),
      options_(options) {
  RINGTRAIN_CHECK(
      batchSize_ > 0 && options_.workers >= 0 && options_.depth >= 1,
      "batch " << batchSize_ << ", workers " << options_.workers << ", depth " << options_.depth);
  for (int64_t b = 0; b < std::min<int64_t>(options_.depth, batches_); ++b) announce(b);
  if (options_.workers == 0) return;
  slots_.resize(static_cast<size_t>(options_.depth));
  try {
    for (int worker = 0; worker < options_.workers; ++worker)
      workers_.emplace_back([this, worker] { work(worker); });
  } catch (...) {
    stop();  // the workers already started must not outlive a constructor that failed
    throw;
  }
}

BatchPrefetcher::~BatchPrefetcher() {
  stop();
}

void BatchPrefetcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

Batch BatchPrefetcher::assemble(int64_t batch) const {
  const int64_t begin = batch * batchSize_;
  const int64_t end = std::min(static_cast<int64_t>(rows_.size()), begin + batchSize_);
  return source_->gather(rows_.data() + begin, end - begin, options_.pinned);
}

void BatchPrefetcher::announce(int64_t batch) const {
  if (batch >= batches_) return;
  const int64_t begin = batch * batchSize_;
  const int64_t end = std::min(static_cast<int64_t>(rows_.size()), begin + batchSize_);
  source_->willGather(rows_.data() + begin, end - begin);
}

// Worker w assembles batches w, w + workers, w + 2 x workers, ..., each once its slot is free.
void BatchPrefetcher::work(int worker) {
  for (int64_t batch = worker; batch < batches_; batch += options_.workers) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || batch < taken_ + options_.depth; });
      if (stopping_) return;
    }
    Slot filled;
    try {
      filled.batch = assemble(batch);
    } catch (...) {
      filled.error = std::current_exception();
    }
    const bool failed = filled.error != nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      slots_[static_cast<size_t>(batch % options_.depth)] = std::move(filled);
    }
    changed_.notify_all();
    if (failed) return;
  }
}

Batch BatchPrefetcher::next() {
  RINGTRAIN_CHECK(taken_ < batches_, "batch " << taken_ << " of " << batches_);
  const auto start = std::chrono::steady_clock::now();
  Batch batch;
  if (workers_.empty()) {
    batch = assemble(taken_);
    ++taken_;
  } else {
    std::unique_lock<std::mutex> lock(mutex_);
    Slot& slot = slots_[static_cast<size_t>(taken_ % options_.depth)];
    changed_.wait(lock, [&] { return slot.batch.has_value() || slot.error != nullptr; });
    if (slot.error) std::rethrow_exception(slot.error);
    batch = std::move(*slot.batch);
    slot.batch.reset();
    ++taken_;
    lock.unlock();
    changed_.notify_all();
  }
  waitSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  announce(taken_ + options_.depth - 1);
  return batch;
}

}  // namespace ringtrain::data
