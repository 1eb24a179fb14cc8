// The files a converter reads, in order, and the progress through them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "prep/Prepare.h"

namespace ringtrain::prep {

// `path` itself, or the regular files of the directory `path` whose names end with `extension`
// (any file when it is empty), in name order. UserError if there are none.
std::vector<std::string> inputFiles(const std::string& path, const std::string& extension);

uint64_t fileBytes(const std::string& path);

// Reports progress through several files: bytes done in earlier files plus the current one's.
class ProgressThroughFiles {
 public:
  ProgressThroughFiles(const PrepOptions& options, const std::vector<std::string>& files);
  void startFile(size_t file);
  void at(uint64_t bytesInFile);  // calls options.progress at most every few MiB
  void done();

 private:
  const PrepOptions& options_;
  std::vector<uint64_t> starts_;
  uint64_t total_ = 0;
  uint64_t current_ = 0;
  uint64_t lastReported_ = 0;
};

}  // namespace ringtrain::prep
