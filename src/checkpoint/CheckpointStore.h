// Checkpoints on disk: one directory per checkpoint, complete or absent.
//
//   <dir>/step-000001200/manifest.json   step, the trainer's state, and each file's size and
//   CRC-32C <dir>/step-000001200/<file>...       written first; the manifest last
//
// A checkpoint is assembled in <dir>/.partial-step-...-<pid>, every file and the directory are
// fsynced, and only then is it renamed into place, so a crash or a full disk at any moment leaves
// either the new checkpoint or none, and never touches the older ones. Reading verifies sizes and
// checksums (the manifest carries its own), so a truncated or corrupt checkpoint is never used.
// Pure filesystem code: no tensors, no communication.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ringtrain {
class FileWriter;
}

namespace ringtrain::checkpoint {

using NamedBlobs = std::vector<std::pair<std::string, std::string>>;  // file name, bytes

struct Checkpoint {
  std::string path;
  int64_t step = 0;
  nlohmann::json state;  // whatever the writer stored; the store does not interpret it
  NamedBlobs files;
};

// Writes a checkpoint for `step` and returns its path. File names are plain names (no '/', not
// "manifest.json"). UserError naming the path on any failure, after removing the partial
// directory; existing checkpoints are untouched (one of the same step is replaced only once the
// new one is complete).
std::string writeCheckpoint(const std::string& dir, int64_t step, const nlohmann::json& state,
                            const NamedBlobs& files);

// The same, file by file, each file streamed in pieces, so that no file is ever whole in memory
// (a sharded optimizer's state reaches rank 0 one piece at a time). Nothing throws before
// commit(): the first failure (a full disk) is kept and what follows is taken and dropped, so
// that ranks sending pieces are never left waiting; commit() reports it.
class CheckpointWriter {
 public:
  CheckpointWriter(const std::string& dir, int64_t step);
  ~CheckpointWriter();  // removes the partial checkpoint unless committed
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Finishes the current file and starts `name` (a plain name, as above).
  void beginFile(const std::string& name);
  void append(const void* data, size_t size);
  // Runs `work` (which builds what it appends) unless something failed already; a failure in it
  // is kept for commit() too.
  void run(const std::function<void()>& work);
  // Finishes the last file, writes the manifest with `state` and moves the checkpoint into place;
  // returns its path. Throws the first failure, the partial checkpoint removed.
  std::string commit(const nlohmann::json& state);

 private:
  void finishFile();
  void discard();
  // Runs `work` unless something failed already; a failure is kept.
  template <typename Work>
  void attempt(Work&& work);

  std::string dir_;
  std::string name_;
  int64_t step_ = 0;
  std::string partial_;
  std::unique_ptr<FileWriter> file_;
  std::string fileName_;
  uint32_t fileCrc_ = 0;
  nlohmann::json entries_ = nlohmann::json::array();
  std::exception_ptr failure_;
  bool done_ = false;
};

// Reads and verifies a checkpoint directory; UserError saying what is wrong with which file.
Checkpoint readCheckpoint(const std::string& path);

// manifest.json, checked: the format and version, its own checksum, and file names that stay
// inside the checkpoint directory. UserError naming `name` otherwise.
struct ManifestEntry {
  std::string name;
  uint64_t bytes = 0;
  uint32_t crc32c = 0;
};
struct Manifest {
  int64_t step = 0;
  nlohmann::json state;
  std::vector<ManifestEntry> files;
};
Manifest parseManifest(const std::string& text, const std::string& name);
// What a manifest carries as "manifest_crc32c": the CRC-32C of its compact text without that
// field.
uint32_t manifestChecksum(nlohmann::json manifest);

// The newest checkpoint in `dir` that verifies, read, or nothing (also when `dir` does not exist).
// Each newer one that fails verification is described in `skipped`.
std::optional<Checkpoint> latestCheckpoint(const std::string& dir,
                                           std::vector<std::string>* skipped = nullptr);

// Keeps the newest `keep` (>= 1) checkpoints and removes the older ones and any partial
// directories left by interrupted writes of this or earlier runs.
void pruneCheckpoints(const std::string& dir, int keep);

// "step-000001200" for 1200; nothing for names that are not checkpoints.
std::string checkpointName(int64_t step);
std::optional<int64_t> stepOfCheckpointName(const std::string& name);

}  // namespace ringtrain::checkpoint
