// Data set indexes (index.json). As for checkpoint manifests, every JSON object is also tried
// with its checksum set right.
#include <nlohmann/json.hpp>

#include "FuzzInput.h"
#include "data/ShardFormat.h"
#include "util/JsonFields.h"

namespace {

void parseAndCheck(const std::string& text) {
  ringtrain::fuzz::expectParsedOrRejected([&] {
    const ringtrain::data::DatasetIndex index = ringtrain::data::parseIndex(text, "index.json");
    // The property that keeps reads inside the data set directory.
    for (const ringtrain::data::ShardEntry& shard : index.shards) {
      if (shard.file.find('/') != std::string::npos || shard.file.find('\0') != std::string::npos ||
          shard.file[0] == '.')
        std::abort();
    }
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = ringtrain::fuzz::asText(data, size);
  parseAndCheck(text);
  nlohmann::json index = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!index.is_object()) return 0;
  index["index_crc32c"] = ringtrain::checksumWithout(index, "index_crc32c");
  parseAndCheck(index.dump());
  return 0;
}
