#include "DataIdentity.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <memory>

#include "data/DataSpec.h"
#include "data/ShardFormat.h"
#include "data/ShardedDataset.h"
#include "util/Crc32c.h"
#include "util/Files.h"

namespace ringtrain::train {
namespace {

std::string resolved(const std::string& path) {
  const std::unique_ptr<char, decltype(&std::free)> real(realpath(path.c_str(), nullptr),
                                                         &std::free);
  return real ? std::string(real.get()) : path;
}

int64_t bytesOf(const std::string& path) {
  struct stat status {};
  if (stat(path.c_str(), &status) != 0) return -1;
  if (!S_ISDIR(status.st_mode)) return static_cast<int64_t>(status.st_size);
  int64_t total = 0;
  for (const std::string& name : listDirectory(path)) {
    // What the readers take from a directory: its CSV files, or MNIST's IDX files.
    const bool read = (name.size() > 4 && name.compare(name.size() - 4, 4, ".csv") == 0) ||
                      name.find("-idx") != std::string::npos;
    if (!read) continue;
    struct stat entry {};
    const std::string child = path + "/" + name;
    if (stat(child.c_str(), &entry) == 0 && S_ISREG(entry.st_mode)) total += entry.st_size;
  }
  return total;
}

}  // namespace

nlohmann::json dataIdentity(const std::string& spec, bool hostSharded) {
  if (hostSharded) return {{"spec", spec}};
  const data::DataSpec parsed = data::parseDataSpec(spec);
  if (parsed.format == data::DataFormat::kSynthetic || parsed.format == data::DataFormat::kPipe) {
    return {{"spec", spec}};
  }
  const std::string path = resolved(parsed.location);
  const std::string index = path + "/" + data::kIndexFile;
  if (data::isShardDirectory(path) && pathExists(index)) {
    return {{"shards_index_crc32c", crc32c(readFile(index))}};
  }
  return {{"path", path}, {"bytes", bytesOf(path)}};
}

bool sameData(const nlohmann::json& theirs, const nlohmann::json& mine) {
  return theirs.is_string() || theirs == mine;
}

}  // namespace ringtrain::train
