#include "data/ShardStream.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ringtrain/util/Error.h"
#include "util/Crc32c.h"

namespace ringtrain::data {
namespace {

constexpr int64_t kLargestStreamedShard = int64_t{1} << 30;

}  // namespace

ShardStreamReader::ShardStreamReader(int fd, std::string name, std::function<bool()> stopRequested)
    : fd_(fd), name_(std::move(name)), stopRequested_(std::move(stopRequested)) {}

int ShardStreamReader::peekByte() {
  if (bufferAt_ < buffer_.size()) return static_cast<unsigned char>(buffer_[bufferAt_]);
  buffer_.resize(size_t{64} << 10);
  bufferAt_ = 0;
  while (true) {
    // A FIFO whose writer has not come yet polls as nothing to read (not as its end), and one
    // whose writer has gone as hung up.
    pollfd wanted{fd_, POLLIN, 0};
    const int ready = ::poll(&wanted, 1, 100);
    RINGTRAIN_USER_CHECK(ready >= 0 || errno == EINTR,
                         "cannot read " << name_ << ": " << std::strerror(errno));
    if (ready <= 0) {
      if (stopRequested_ && stopRequested_()) throw StreamReadingStopped{};
      continue;
    }
    const ssize_t got = ::read(fd_, buffer_.data(), buffer_.size());
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    RINGTRAIN_USER_CHECK(got >= 0, "cannot read " << name_ << ": " << std::strerror(errno));
    buffer_.resize(static_cast<size_t>(got));
    return got == 0 ? -1 : static_cast<unsigned char>(buffer_[0]);
  }
}

bool ShardStreamReader::readExactly(char* to, size_t bytes, bool endAllowed) {
  size_t done = 0;
  while (done < bytes) {
    if (peekByte() < 0) {
      RINGTRAIN_USER_CHECK(endAllowed && done == 0, name_ << " ended " << bytesRead_
                                                          << " bytes in, inside a shard "
                                                          << "(truncated stream?)");
      return false;
    }
    const size_t take = std::min(bytes - done, buffer_.size() - bufferAt_);
    std::memcpy(to + done, buffer_.data() + bufferAt_, take);
    bufferAt_ += take;
    done += take;
    bytesRead_ += static_cast<int64_t>(take);
  }
  return true;
}

// Braces outside strings are counted until the document's closing brace.
void ShardStreamReader::skipJsonDocument() {
  int depth = 0;
  bool inString = false;
  bool escaped = false;
  constexpr int64_t kLargestDocument = int64_t{64} << 20;
  const int64_t start = bytesRead_;
  while (true) {
    const int byte = peekByte();
    RINGTRAIN_USER_CHECK(byte >= 0, name_ << " ends inside a JSON document");
    ++bufferAt_;
    ++bytesRead_;
    RINGTRAIN_USER_CHECK(bytesRead_ - start < kLargestDocument,
                         name_ << ": a JSON document of over 64 MiB where shards were expected");
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (byte == '\\') {
        escaped = true;
      } else if (byte == '"') {
        inString = false;
      }
    } else if (byte == '"') {
      inString = true;
    } else if (byte == '{') {
      ++depth;
    } else if (byte == '}' && --depth == 0) {
      return;
    }
  }
}

std::optional<StreamedShard> ShardStreamReader::next() {
  while (true) {
    int byte = peekByte();
    while (byte == ' ' || byte == '\n' || byte == '\r' || byte == '\t') {
      ++bufferAt_;
      ++bytesRead_;
      byte = peekByte();
    }
    if (byte < 0) return std::nullopt;
    if (byte != '{') break;
    skipJsonDocument();
  }
  const int64_t shardStart = bytesRead_;
  std::string headerBytes(kShardHeaderBytes, '\0');
  readExactly(headerBytes.data(), headerBytes.size(), false);
  const std::string where = name_ + " (shard at byte " + std::to_string(shardStart) + ")";
  StreamedShard shard;
  shard.header = parseShardHeader(headerBytes, where);
  RINGTRAIN_USER_CHECK(shard.header.kind == ShardKind::kSamples,
                       where << ": token streams cannot be read from a pipe yet");
  RINGTRAIN_USER_CHECK(shard.header.fileBytes() <= kLargestStreamedShard,
                       where << " holds " << shard.header.fileBytes()
                             << " bytes; a streamed shard is held in memory whole and may have "
                                "at most 1 GiB (make the data set with a smaller --shard-size)");
  shard.features.resize(static_cast<size_t>(shard.header.featureBytes()));
  readExactly(shard.features.data(), shard.features.size(), false);
  uint32_t crc = crc32c(shard.features);
  std::string padding(static_cast<size_t>(shard.header.labelOffset() - kShardHeaderBytes -
                                          shard.header.featureBytes()),
                      '\0');
  readExactly(padding.data(), padding.size(), false);
  crc = crc32c(padding, crc);
  shard.labels.resize(static_cast<size_t>(shard.header.count));
  readExactly(reinterpret_cast<char*>(shard.labels.data()), shard.labels.size() * sizeof(int64_t),
              false);
  crc = crc32c(std::string_view(reinterpret_cast<const char*>(shard.labels.data()),
                                shard.labels.size() * sizeof(int64_t)),
               crc);
  RINGTRAIN_USER_CHECK(crc == shard.header.dataCrc32c, where << " fails its checksum (corrupt)");
  for (size_t i = 0; i < shard.labels.size(); ++i) {
    RINGTRAIN_USER_CHECK(shard.labels[i] >= 0 && shard.labels[i] < shard.header.numClasses,
                         where << ": sample " << i << " has label " << shard.labels[i]
                               << ", outside its " << shard.header.numClasses << " classes");
  }
  return shard;
}

}  // namespace ringtrain::data
