// Scalars in TensorBoard's event files: what `--tensorboard DIR` writes on rank 0, which
// TensorBoard, SageMaker's TensorBoard and W&B's import read. A file is a sequence of records, each
// a serialized tensorflow.Event framed as TFRecord frames them: its length (8 bytes,
// little-endian), a masked CRC-32C of the length, the bytes, and a masked CRC-32C of the bytes.
//
// The few messages needed (Event, Summary, Summary.Value, SessionLog) are encoded here, in
// protobuf's wire format with TensorFlow's field numbers, rather than by libprotobuf: LibTorch and
// SentencePiece each carry a protobuf of their own whose exported symbols collide with Debian's
// libprotobuf in one process (it crashes while loading).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringtrain::io {

// TFRecord's masked CRC-32C: the checksum rotated right by 15 bits plus a constant, so that a
// checksum stored in the data it covers does not checksum to itself.
uint32_t maskedCrc32c(std::string_view bytes);
// One record's frame around `data`.
std::string tfRecord(std::string_view data);

// tensorflow.Event with a summary of simple values (fields wall_time 1, step 2, summary 5;
// Summary.value 1; Value.tag 1, simple_value 2), with a file_version (3), or with a session_log (7)
// whose status (1) is START (1): the serialized bytes.
std::string scalarsEvent(double wallTime, int64_t step,
                         const std::vector<std::pair<std::string, double>>& values);
std::string fileVersionEvent(double wallTime, const std::string& version);
std::string sessionStartEvent(double wallTime, int64_t step);

class TensorBoardEvents {
 public:
  // Creates `directory` (and its parents) and a new event file in it,
  // events.out.tfevents.<seconds>.<host>.<pid>.ringtrain, that starts with the file's version and a
  // start at `firstStep`: TensorBoard then drops what earlier files of the directory recorded from
  // that step on (a resumed run's steps after its checkpoint). UserError naming the directory when
  // it cannot be written.
  TensorBoardEvents(const std::string& directory, int64_t firstStep);
  // `values` (tag, value) at `step`, written through to the file.
  void addScalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  const std::string& path() const { return path_; }

 private:
  void write(const std::string& event);

  std::string path_;
  std::ofstream file_;
};

}  // namespace ringtrain::io
