// Shards read one after another from a byte stream that cannot seek: a FIFO such as SageMaker's
// Pipe mode channel `<channel>_<epoch>`, which delivers the objects of an S3 prefix concatenated
// in name order. The stream is the shard files of a data set made by `ringtrain prep`, one after
// the other; a JSON document before or after them (the data set's index.json, which sorts before
// the shards) is skipped.
//
// A shard's labels follow all its features, so a shard is read whole (1 GiB at most) before its
// samples can be used, and a stream reader keeps a few of them in memory: make data sets for
// streaming with a small --shard-size (16M, say).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/ShardFormat.h"

namespace ringtrain::data {

struct StreamedShard {
  ShardHeader header;
  std::string features;  // header.featureBytes() bytes as stored
  std::vector<int64_t> labels;
};

// Thrown by ShardStreamReader::next() when `stopRequested` said so while it waited for data.
struct StreamReadingStopped {};

class ShardStreamReader {
 public:
  // Reads from `fd` (not owned, not closed), which may be non-blocking: a FIFO opened with
  // O_NONBLOCK, so that waiting for its writer can be given up. `name` is used in messages.
  // `stopRequested` is asked every 100 ms while no data comes.
  ShardStreamReader(int fd, std::string name, std::function<bool()> stopRequested = {});

  // The next shard, checked (header, size, checksum); nothing at the end of the stream.
  // UserError naming the stream if it is not a shard stream, is truncated or corrupt.
  std::optional<StreamedShard> next();
  int64_t bytesRead() const { return bytesRead_; }

 private:
  // Fills `to` with `bytes` bytes; false if the stream ended before the first byte.
  bool readExactly(char* to, size_t bytes, bool endAllowed);
  int peekByte();
  void skipJsonDocument();

  int fd_;
  std::string name_;
  std::function<bool()> stopRequested_;
  int64_t bytesRead_ = 0;
  std::string buffer_;  // read but not yet consumed
  size_t bufferAt_ = 0;
};

}  // namespace ringtrain::data
