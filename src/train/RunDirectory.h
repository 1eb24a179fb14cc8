// Where a run writes when --output-dir is not given: a new directory per run under runs/, named
// by the local date and time, and runs/latest, a symbolic link to the newest, as experiment tools
// do. A finished model is never written over by the next run.
#pragma once

#include <ctime>
#include <optional>
#include <string>

namespace ringtrain::train {

constexpr const char* kRunsDirectory = "runs";
constexpr const char* kLatestRun = "runs/latest";

// "runs/20261205-141503", with "-2", "-3", ... when runs started in the same second; created
// (with runs/) so that no other run takes the name. UserError naming the path if it cannot be.
std::string makeFreshRunDirectory(const std::string& base, std::time_t now);

// The directory base/latest names, by a path that stays good when the link moves: base/<name>
// for a link this file made, the resolved path otherwise; empty when there is none.
std::string latestRunDirectory(const std::string& base);

// Points base/latest at `run` (a directory in `base`), replacing an older link in one rename.
// Returns false, changing nothing, when base/latest is a real directory (where earlier versions
// wrote every run) or the link cannot be made: the run's own directory is what counts.
bool pointLatestAt(const std::string& base, const std::string& run);

// A path that keeps its meaning when runs/latest moves: resolved when it goes through a "latest"
// link, as given otherwise.
std::string stablePath(const std::string& path);

// Marks `directory` as written by this process while the object lives (<directory>/.running:
// host and pid), so that another command does not continue the same run at the same time.
class RunMarker {
 public:
  explicit RunMarker(std::string directory);
  ~RunMarker();
  RunMarker(const RunMarker&) = delete;
  RunMarker& operator=(const RunMarker&) = delete;

 private:
  std::string path_;
};

// "process N on HOST" when a live process (or one on another host, which cannot be asked) marked
// `directory`; nothing otherwise.
std::optional<std::string> runInProgress(const std::string& directory);

// Renames `checkpointDir` to `<checkpointDir>-before-DATE-TIME` when it holds checkpoints, and
// returns the new name; nothing when there is nothing to move.
std::optional<std::string> setAsideCheckpoints(const std::string& checkpointDir);

// Where an output a flag names lies (--trace, --tensorboard): a relative `path` in the run's
// directory, an absolute one where it says; empty stays empty (none asked for).
std::string resolvedInRun(const std::string& path, const std::string& runDirectory);

}  // namespace ringtrain::train
