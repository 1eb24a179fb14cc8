#include "InputFiles.h"

#include <sys/stat.h>

#include <algorithm>

#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::prep {

std::vector<std::string> inputFiles(const std::string& path, const std::string& extension) {
  RINGTRAIN_USER_CHECK(pathExists(path), "cannot read " << path << ": no such file or directory");
  if (!isDirectory(path)) return {path};
  std::vector<std::string> files;
  for (const std::string& name : listDirectory(path)) {
    const std::string file = path + "/" + name;
    const bool matches =
        extension.empty() || (name.size() > extension.size() && hasSuffix(name, extension));
    if (matches && name[0] != '.' && !isDirectory(file)) files.push_back(file);
  }
  std::sort(files.begin(), files.end());
  RINGTRAIN_USER_CHECK(
      !files.empty(),
      path << ": directory holds no " << (extension.empty() ? "file" : "*" + extension + " file"));
  return files;
}

uint64_t fileBytes(const std::string& path) {
  struct stat status {};
  RINGTRAIN_USER_CHECK(::stat(path.c_str(), &status) == 0, "cannot read " << path);
  return static_cast<uint64_t>(status.st_size);
}

ProgressThroughFiles::ProgressThroughFiles(const PrepOptions& options,
                                           const std::vector<std::string>& files)
    : options_(options) {
  for (const std::string& file : files) {
    starts_.push_back(total_);
    total_ += fileBytes(file);
  }
}

void ProgressThroughFiles::startFile(size_t file) {
  current_ = starts_.at(file);
}

void ProgressThroughFiles::at(uint64_t bytesInFile) {
  constexpr uint64_t kEvery = uint64_t{4} << 20;
  const uint64_t done = current_ + bytesInFile;
  if (!options_.progress || done < lastReported_ + kEvery) return;
  lastReported_ = done;
  options_.progress(static_cast<int64_t>(done), static_cast<int64_t>(total_));
}

void ProgressThroughFiles::done() {
  if (options_.progress)
    options_.progress(static_cast<int64_t>(total_), static_cast<int64_t>(total_));
}

}  // namespace ringtrain::prep
