#include "checkpoint/CheckpointStore.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <regex>
#include <string_view>

#include "ringtrain/util/Error.h"
#include "util/Crc32c.h"
#include "util/Files.h"
#include "util/JsonFields.h"

namespace ringtrain::checkpoint {
namespace {

using nlohmann::json;

constexpr const char* kManifest = "manifest.json";
constexpr const char* kFormat = "ringtrain-checkpoint";
constexpr int kVersion = 1;
constexpr const char* kPartialPrefix = ".partial-";
constexpr const char* kReplacedPrefix = ".replaced-";

// A file name from a manifest must stay inside its checkpoint directory.
bool isPlainName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name != kManifest &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

// Checkpoint directories of `dir`, newest first.
std::vector<std::pair<int64_t, std::string>> checkpointsIn(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  for (const std::string& name : listDirectory(dir)) {
    const auto step = stepOfCheckpointName(name);
    if (step && isDirectory(join(dir, name))) found.emplace_back(*step, join(dir, name));
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  return found;
}

}  // namespace

uint32_t manifestChecksum(json manifest) {
  return checksumWithout(std::move(manifest), "manifest_crc32c");
}

std::string checkpointName(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%09lld", static_cast<long long>(step));
  return name;
}

std::optional<int64_t> stepOfCheckpointName(const std::string& name) {
  static const std::regex pattern("step-([0-9]{1,18})");
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) return std::nullopt;
  return std::stoll(match[1].str());
}

std::string writeCheckpoint(const std::string& dir, int64_t step, const json& state,
                            const NamedBlobs& files) {
  CheckpointWriter writer(dir, step);
  for (const auto& [file, bytes] : files) {
    writer.beginFile(file);
    writer.append(bytes.data(), bytes.size());
  }
  return writer.commit(state);
}

CheckpointWriter::CheckpointWriter(const std::string& dir, int64_t step)
    : dir_(dir), name_(checkpointName(step)), step_(step) {
  attempt([&] {
    RINGTRAIN_CHECK(step >= 0, "checkpoint step " << step);
    partial_ = join(dir_, kPartialPrefix + name_ + "-" + std::to_string(::getpid()));
    makeDirectories(dir_);
    removeTree(partial_);
    makeDirectories(partial_);
  });
}

CheckpointWriter::~CheckpointWriter() {
  discard();
}

void CheckpointWriter::discard() {
  if (done_) return;
  done_ = true;
  file_.reset();
  try {
    if (!partial_.empty()) removeTree(partial_);
  } catch (...) {
    // Left for pruneCheckpoints, which removes partial directories.
  }
}

template <typename Work>
void CheckpointWriter::attempt(Work&& work) {
  if (failure_) return;
  try {
    work();
  } catch (...) {
    failure_ = std::current_exception();
    file_.reset();
  }
}

void CheckpointWriter::run(const std::function<void()>& work) {
  attempt(work);
}

void CheckpointWriter::beginFile(const std::string& name) {
  finishFile();
  attempt([&] {
    RINGTRAIN_CHECK(isPlainName(name), "checkpoint file name '" << name << "'");
    file_ = std::make_unique<FileWriter>(join(partial_, name));
    fileName_ = name;
    fileCrc_ = 0;
  });
}

void CheckpointWriter::append(const void* data, size_t size) {
  attempt([&] {
    RINGTRAIN_CHECK(file_, "checkpoint bytes before a file was begun");
    file_->append(data, size);
    fileCrc_ = crc32c(std::string_view(static_cast<const char*>(data), size), fileCrc_);
  });
}

void CheckpointWriter::finishFile() {
  attempt([&] {
    if (!file_) return;
    file_->finish();
    entries_.push_back({{"name", fileName_}, {"bytes", file_->size()}, {"crc32c", fileCrc_}});
    file_.reset();
  });
}

std::string CheckpointWriter::commit(const json& state) {
  finishFile();
  const std::string final = join(dir_, name_);
  attempt([&] {
    json manifest{{"format", kFormat},
                  {"version", kVersion},
                  {"step", step_},
                  {"state", state},
                  {"files", entries_}};
    manifest["manifest_crc32c"] = manifestChecksum(manifest);
    writeFileDurably(join(partial_, kManifest), manifest.dump(1) + "\n");
    syncDirectory(partial_);

    // Replacing a checkpoint of the same step (a run resumed from an older one): the old one
    // goes only once the new one is complete.
    replaceDirectory(partial_, final,
                     join(dir_, kReplacedPrefix + name_ + "-" + std::to_string(::getpid())));
    syncDirectory(dir_);
    done_ = true;
  });
  if (failure_) {
    discard();
    std::rethrow_exception(failure_);
  }
  return final;
}

Manifest parseManifest(const std::string& text, const std::string& name) {
  json manifest;
  try {
    manifest = json::parse(text);
  } catch (const json::exception& e) {
    throw UserError(name + " is not valid JSON (truncated or corrupt?): " + e.what());
  }
  try {
    RINGTRAIN_USER_CHECK(manifest.is_object() && manifest.value("format", "") == kFormat,
                         name << " is not a ringtrain checkpoint manifest");
    RINGTRAIN_USER_CHECK(
        wholeNumber(manifest.at("version"), 0, 1 << 30, name + ": version") == kVersion,
        name << " has version " << manifest.at("version") << "; this ringtrain reads version "
             << kVersion);
    RINGTRAIN_USER_CHECK(wholeNumber(manifest.at("manifest_crc32c"), 0, UINT32_MAX,
                                     name + ": manifest_crc32c") == manifestChecksum(manifest),
                         name << " fails its checksum (corrupt)");
    Manifest parsed;
    parsed.step = wholeNumber(manifest.at("step"), 0, INT64_MAX, name + ": step");
    parsed.state = manifest.at("state");
    for (const json& entry : manifest.at("files")) {
      ManifestEntry file;
      file.name = entry.at("name").get<std::string>();
      file.bytes = static_cast<uint64_t>(
          wholeNumber(entry.at("bytes"), 0, INT64_MAX, name + ": a file's bytes"));
      file.crc32c = static_cast<uint32_t>(
          wholeNumber(entry.at("crc32c"), 0, UINT32_MAX, name + ": a file's crc32c"));
      RINGTRAIN_USER_CHECK(isPlainName(file.name),
                           name << " names a file outside the checkpoint: '" << file.name << "'");
      parsed.files.push_back(std::move(file));
    }
    return parsed;
  } catch (const json::exception& e) {
    throw UserError(name + " is malformed: " + e.what());
  }
}

Checkpoint readCheckpoint(const std::string& path) {
  RINGTRAIN_USER_CHECK(isDirectory(path), "checkpoint " << path << " is not a directory");
  const std::string manifestPath = join(path, kManifest);
  RINGTRAIN_USER_CHECK(pathExists(manifestPath),
                       "checkpoint " << path << " is incomplete: it has no " << kManifest);
  Manifest manifest = parseManifest(readFile(manifestPath), manifestPath);
  Checkpoint checkpoint;
  checkpoint.path = path;
  checkpoint.step = manifest.step;
  checkpoint.state = std::move(manifest.state);
  for (const ManifestEntry& entry : manifest.files) {
    const std::string file = join(path, entry.name);
    RINGTRAIN_USER_CHECK(pathExists(file), "checkpoint " << path << " lacks " << entry.name);
    std::string bytes = readFile(file);
    RINGTRAIN_USER_CHECK(bytes.size() == entry.bytes, file << " has " << bytes.size()
                                                           << " bytes, the manifest says "
                                                           << entry.bytes << " (truncated?)");
    RINGTRAIN_USER_CHECK(crc32c(bytes) == entry.crc32c, file << " fails its checksum (corrupt)");
    checkpoint.files.emplace_back(entry.name, std::move(bytes));
  }
  return checkpoint;
}

std::optional<Checkpoint> latestCheckpoint(const std::string& dir,
                                           std::vector<std::string>* skipped) {
  for (const auto& [step, path] : checkpointsIn(dir)) {
    try {
      return readCheckpoint(path);
    } catch (const UserError& error) {
      if (skipped) skipped->push_back(error.what());
    }
  }
  return std::nullopt;
}

void pruneCheckpoints(const std::string& dir, int keep) {
  RINGTRAIN_CHECK(keep >= 1, "pruneCheckpoints keep=" << keep);
  const auto checkpoints = checkpointsIn(dir);
  for (size_t i = static_cast<size_t>(keep); i < checkpoints.size(); ++i) {
    removeTree(checkpoints[i].second);
  }
  for (const std::string& name : listDirectory(dir)) {
    if (name.rfind(kPartialPrefix, 0) == 0 || name.rfind(kReplacedPrefix, 0) == 0) {
      removeTree(join(dir, name));
    }
  }
}

}  // namespace ringtrain::checkpoint
