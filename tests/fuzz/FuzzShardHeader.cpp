// Shard headers. Random bytes rarely carry a valid checksum, so each input is also tried as the
// start of a header whose checksum is set right, which takes the fuzzer to the fields behind it.
#include <cstring>

#include "FuzzInput.h"
#include "data/ShardFormat.h"
#include "util/Crc32c.h"

namespace {

void parseAndCheck(const std::string& bytes) {
  using namespace ringtrain::data;
  ringtrain::fuzz::expectParsedOrRejected([&] {
    const ShardHeader header = parseShardHeader(bytes, "fuzz.rtshard");
    // What readers compute from an accepted header must be a real size.
    if (header.sampleBytes() <= 0 || header.fileBytes() <= static_cast<int64_t>(kShardHeaderBytes))
      std::abort();
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringtrain::data;
  const std::string text = ringtrain::fuzz::asText(data, size);
  parseAndCheck(text);
  std::string header(kShardHeaderBytes, '\0');
  std::memcpy(header.data(), text.data(), std::min<size_t>(size, 116));
  std::memset(header.data() + 116, 0, 4);
  const uint32_t checksum = ringtrain::crc32c(header);
  std::memcpy(header.data() + 116, &checksum, 4);
  parseAndCheck(header);
  return 0;
}
