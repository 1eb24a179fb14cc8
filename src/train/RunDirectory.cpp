#include "RunDirectory.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>

#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::train {

namespace {

std::string hostName() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

std::string stampOf(std::time_t now) {
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return stamp;
}

}  // namespace

std::string makeFreshRunDirectory(const std::string& base, std::time_t now) {
  makeDirectories(base);
  const std::string stamp = stampOf(now);
  for (int attempt = 1; attempt <= 1000; ++attempt) {
    const std::string path =
        base + "/" + stamp + (attempt == 1 ? "" : "-" + std::to_string(attempt));
    if (mkdir(path.c_str(), 0777) == 0) return path;
    RINGTRAIN_USER_CHECK(errno == EEXIST, "cannot create the run directory "
                                              << path << ": " << std::strerror(errno)
                                              << " (or pass --output-dir)");
  }
  throw UserError("cannot find a free run directory name in " + base + " (or pass --output-dir)");
}

std::string latestRunDirectory(const std::string& base) {
  const std::string latest = base + "/latest";
  if (!isDirectory(latest)) return {};
  char target[4096];
  const ssize_t length = readlink(latest.c_str(), target, sizeof target - 1);
  if (length > 0 && std::string(target, length).find('/') == std::string::npos) {
    return base + "/" + std::string(target, length);
  }
  const std::unique_ptr<char, decltype(&std::free)> real(realpath(latest.c_str(), nullptr),
                                                         &std::free);
  return real ? std::string(real.get()) : latest;
}

std::string stablePath(const std::string& path) {
  const bool throughLatest = ("/" + path + "/").find("/latest/") != std::string::npos;
  if (!throughLatest) return path;
  const std::unique_ptr<char, decltype(&std::free)> real(realpath(path.c_str(), nullptr),
                                                         &std::free);
  return real ? std::string(real.get()) : path;
}

RunMarker::RunMarker(std::string directory) : path_(std::move(directory) + "/.running") {
  writeFileAtomically(path_, hostName() + " " + std::to_string(getpid()) + "\n");
}

RunMarker::~RunMarker() {
  unlink(path_.c_str());
}

std::optional<std::string> runInProgress(const std::string& directory) {
  const std::string path = directory + "/.running";
  if (!pathExists(path)) return std::nullopt;
  std::istringstream marker(readFile(path));
  std::string host;
  long pid = 0;
  if (!(marker >> host >> pid) || pid <= 0) return std::nullopt;
  const std::string user = "process " + std::to_string(pid) + " on " + host;
  if (host != hostName()) return user;
  const bool alive = kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
  return alive && pid != getpid() ? std::optional<std::string>(user) : std::nullopt;
}

std::optional<std::string> setAsideCheckpoints(const std::string& checkpointDir) {
  bool holdsCheckpoints = false;
  for (const std::string& name : listDirectory(checkpointDir)) {
    holdsCheckpoints = holdsCheckpoints || name.rfind("step-", 0) == 0;
  }
  if (!holdsCheckpoints) return std::nullopt;
  std::string aside = checkpointDir + "-before-" + stampOf(std::time(nullptr));
  for (int attempt = 2; pathExists(aside); ++attempt) {
    aside =
        checkpointDir + "-before-" + stampOf(std::time(nullptr)) + "-" + std::to_string(attempt);
  }
  renamePath(checkpointDir, aside);
  return aside;
}

bool pointLatestAt(const std::string& base, const std::string& run) {
  const std::string latest = base + "/latest";
  struct stat status {};
  if (lstat(latest.c_str(), &status) == 0 && !S_ISLNK(status.st_mode)) return false;
  const std::string name = run.substr(run.find_last_of('/') + 1);
  const std::string temporary = base + "/.latest-" + std::to_string(getpid());
  unlink(temporary.c_str());
  if (symlink(name.c_str(), temporary.c_str()) != 0) return false;
  if (rename(temporary.c_str(), latest.c_str()) != 0) {
    unlink(temporary.c_str());
    return false;
  }
  return true;
}

std::string resolvedInRun(const std::string& path, const std::string& runDirectory) {
  if (path.empty() || path.front() == '/') return path;
  return runDirectory + "/" + path;
}

}  // namespace ringtrain::train
