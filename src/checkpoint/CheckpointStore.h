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
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
