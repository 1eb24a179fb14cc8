#include "train/StreamedEpoch.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "data/ElementConversion.h"
#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::train {
namespace {

using Clock = std::chrono::steady_clock;

// Shards read ahead of the dealing, besides the one being dealt.
constexpr size_t kShardsAhead = 2;

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string text;
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "x" : "") + std::to_string(shape[i]);
  return text;
}

}  // namespace

StreamedEpoch::StreamedEpoch(const StreamPlan& plan, comm::Communicator& host,
                             comm::Communicator& control)
    : plan_(plan), host_(host), control_(control) {
  if (host_.rank() == 0) reader_ = std::thread([this] { read(); });
}

StreamedEpoch::~StreamedEpoch() {
  if (!reader_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  reader_.join();
}

void StreamedEpoch::check(const data::ShardHeader& header) const {
  RINGTRAIN_USER_CHECK(header.sampleShape == plan_.sampleShape,
                       plan_.path << " holds samples of shape " << shapeText(header.sampleShape)
                                  << ", but the model takes " << shapeText(plan_.sampleShape)
                                  << " (the shape of --val)");
  RINGTRAIN_USER_CHECK(header.numClasses <= plan_.numClasses,
                       plan_.path << " holds " << header.numClasses << " classes, the model "
                                  << plan_.numClasses << "; pass --num-classes "
                                  << header.numClasses);
}

void StreamedEpoch::read() {
  try {
    // SageMaker creates each epoch's FIFO when the one before has been read.
    while (!pathExists(plan_.path)) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (changed_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_; }))
          return;
      }
    }
    // Non-blocking, so that waiting for a writer that never comes can be given up.
    const int fd = ::open(plan_.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    RINGTRAIN_USER_CHECK(fd >= 0, "cannot read " << plan_.path << ": " << std::strerror(errno));
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    data::ShardStreamReader stream(fd, plan_.path, [this] {
      std::lock_guard<std::mutex> lock(mutex_);
      return stopping_;
    });
    while (true) {
      std::optional<data::StreamedShard> shard = stream.next();
      if (shard) check(shard->header);
      std::unique_lock<std::mutex> lock(mutex_);
      if (!shard) {
        ended_ = true;
        break;
      }
      changed_.wait(lock, [&] { return stopping_ || shards_.size() <= kShardsAhead; });
      if (stopping_) break;
      shards_.push_back(std::move(*shard));
      changed_.notify_all();
    }
  } catch (const data::StreamReadingStopped&) {
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  changed_.notify_all();
}

data::Batch StreamedEpoch::take(int64_t count) {
  std::vector<int64_t> shape = plan_.sampleShape;
  int64_t elements = 1;
  for (const int64_t extent : shape) elements *= extent;
  std::vector<float> features;
  std::vector<int64_t> labels;
  std::unique_lock<std::mutex> lock(mutex_);
  while (static_cast<int64_t>(labels.size()) < count) {
    changed_.wait(lock, [&] { return !shards_.empty() || ended_ || error_; });
    if (error_) std::rethrow_exception(error_);
    if (shards_.empty()) break;  // the stream ended
    const data::StreamedShard& shard = shards_.front();
    const int64_t available = shard.header.count - dealtOfFront_;
    const int64_t taking = std::min(available, count - static_cast<int64_t>(labels.size()));
    const size_t at = features.size();
    features.resize(at + static_cast<size_t>(taking * elements));
    data::convertToFloat(shard.header.elementType,
                         shard.features.data() + dealtOfFront_ * shard.header.sampleBytes(),
                         taking * elements, static_cast<float>(shard.header.featureScale),
                         features.data() + at);
    labels.insert(labels.end(), shard.labels.begin() + dealtOfFront_,
                  shard.labels.begin() + dealtOfFront_ + taking);
    dealtOfFront_ += taking;
    if (dealtOfFront_ == shard.header.count) {
      shards_.pop_front();
      dealtOfFront_ = 0;
      changed_.notify_all();
    }
  }
  lock.unlock();
  const auto rows = static_cast<int64_t>(labels.size());
  shape.insert(shape.begin(), rows);
  return {at::from_blob(features.data(), shape, at::kFloat).clone(),
          at::from_blob(labels.data(), {rows}, at::kLong).clone()};
}

int64_t StreamedEpoch::beginStep() {
  const auto start = Clock::now();
  const int ranks = host_.size();
  step_.clear();
  std::vector<int64_t> shape = plan_.sampleShape;
  const auto options = at::TensorOptions().pinned_memory(plan_.pinned);
  at::Tensor counts = at::zeros({plan_.gradAccum}, at::kLong);
  for (int64_t m = 0; m < plan_.gradAccum; ++m) {
    if (host_.rank() == 0) {
      // Round-robin over the host's ranks, so at the end of the stream they differ by one sample
      // at most.
      const data::Batch chunk = take(plan_.batchSize * ranks);
      for (int rank = 0; rank < ranks; ++rank) {
        const int64_t size = chunk.labels.size(0);
        const at::Tensor rows = at::arange(rank, std::max<int64_t>(rank, size), ranks, at::kLong);
        data::Batch mine{chunk.features.index_select(0, rows), chunk.labels.index_select(0, rows)};
        at::Tensor count = at::full({1}, rows.size(0), at::kLong);
        if (rank == 0) {
          counts[m] = rows.size(0);
          if (rows.size(0) > 0) step_.push_back(std::move(mine));
          continue;
        }
        host_.send(count, rank);
        if (rows.size(0) == 0) continue;
        host_.send(mine.features, rank);
        host_.send(mine.labels, rank);
      }
    } else {
      at::Tensor count = at::zeros({1}, at::kLong);
      host_.recv(count, 0);
      const int64_t rows = count.item<int64_t>();
      counts[m] = rows;
      if (rows == 0) continue;
      shape.insert(shape.begin(), rows);
      data::Batch mine{at::empty(shape, options.dtype(at::kFloat)),
                       at::empty({rows}, options.dtype(at::kLong))};
      shape.erase(shape.begin());
      host_.recv(mine.features, 0);
      host_.recv(mine.labels, 0);
      step_.push_back(std::move(mine));
    }
  }
  int64_t usable = 0;
  const int64_t* count = counts.const_data_ptr<int64_t>();
  while (usable < plan_.gradAccum && count[usable] > 0 &&
         (!plan_.dropLast || count[usable] == plan_.batchSize)) {
    ++usable;
  }
  at::Tensor agreed = at::full({1}, usable, at::kLong);
  control_.allReduce(agreed, comm::ReduceOp::kMin);
  const int64_t microBatches = agreed.item<int64_t>();
  step_.resize(static_cast<size_t>(microBatches));
  waitSeconds_ += std::chrono::duration<double>(Clock::now() - start).count();
  return microBatches;
}

data::Batch StreamedEpoch::nextMicroBatch() {
  RINGTRAIN_CHECK(!step_.empty(), "no micro-batch left in this step");
  data::Batch batch = std::move(step_.front());
  step_.pop_front();
  return batch;
}

}  // namespace ringtrain::train
