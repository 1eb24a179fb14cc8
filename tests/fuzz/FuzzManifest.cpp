// Checkpoint manifests. Random bytes rarely carry a valid checksum, so every input that is a JSON
// object is also tried with its checksum set right, which takes the fuzzer past that check to
// the fields behind it.
#include <nlohmann/json.hpp>

#include "FuzzInput.h"
#include "checkpoint/CheckpointStore.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringtrain::checkpoint;
  const std::string text = ringtrain::fuzz::asText(data, size);
  ringtrain::fuzz::expectParsedOrRejected([&] { parseManifest(text, "manifest.json"); });
  nlohmann::json manifest = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object()) return 0;
  manifest["manifest_crc32c"] = manifestChecksum(manifest);
  ringtrain::fuzz::expectParsedOrRejected([&] {
    const Manifest parsed = parseManifest(manifest.dump(), "manifest.json");
    for (const ManifestEntry& file : parsed.files) {
      // The one property that keeps writes and reads inside the checkpoint directory.
      if (file.name.empty() || file.name.find('/') != std::string::npos ||
          file.name.find('\0') != std::string::npos || file.name == ".." || file.name == ".") {
        std::abort();
      }
    }
  });
  return 0;
}
