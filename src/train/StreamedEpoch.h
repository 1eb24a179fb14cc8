// An epoch read from a stream (SageMaker Pipe mode): `pipe:PREFIX` reads PREFIX_0 in the first
// epoch this process runs, PREFIX_1 in the second, and so on, waiting for each to appear. A FIFO
// has one reader, so on every host local rank 0 reads the host's stream on a thread of its own and,
// step by step, deals the samples round-robin to the host's ranks. The ranks of all hosts then
// agree on how many micro-batches the step has (the fewest any rank got), and the epoch ends for
// everyone at the first step some rank has nothing for.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/ShardStream.h"
#include "ringtrain/comm/Communicator.h"
#include "train/EpochInput.h"

namespace ringtrain::train {

struct StreamPlan {
  std::string path;                  // this epoch's stream: PREFIX_<epoch>
  std::vector<int64_t> sampleShape;  // what the model takes: every shard must hold these
  int64_t numClasses = 0;
  int64_t batchSize = 1;
  int64_t gradAccum = 1;
  bool dropLast = false;  // micro-batches short of batchSize do not count
  bool pinned = false;
};

class StreamedEpoch final : public EpochInput {
 public:
  // `host`: the ranks of this host; `control`: all ranks. Starts reading on local rank 0.
  StreamedEpoch(const StreamPlan& plan, comm::Communicator& host, comm::Communicator& control);
  ~StreamedEpoch() override;

  std::optional<int64_t> stepsLeft() const override { return std::nullopt; }
  int64_t beginStep() override;
  data::Batch nextMicroBatch() override;
  // A stream cannot be read again from a point inside it: a resumed run starts the epoch over.
  int64_t position() const override { return 0; }
  double waitSeconds() const override { return waitSeconds_; }

 private:
  // Local rank 0: up to `count` samples from the stream, as float features and labels.
  data::Batch take(int64_t count);
  void read();  // the reader thread
  void check(const data::ShardHeader& header) const;

  StreamPlan plan_;
  comm::Communicator& host_;
  comm::Communicator& control_;
  std::deque<data::Batch> step_;  // this rank's micro-batches of the current step
  double waitSeconds_ = 0;

  // Local rank 0 only.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<data::StreamedShard> shards_;  // read, not yet dealt
  int64_t dealtOfFront_ = 0;                // samples of shards_.front() already dealt
  bool ended_ = false;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread reader_;
};

}  // namespace ringtrain::train
