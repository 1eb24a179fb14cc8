// A JSON document that carries a checksum of itself (checkpoint manifests, data set indexes), so
// that a truncated or edited file is told apart from a good one.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace ringtrain {

// The CRC-32C of the document's compact text without `field`. nlohmann::json prints an object's
// keys in sorted order, so the text, and the checksum, are reproducible.
uint32_t checksumWithout(nlohmann::json document, const std::string& field);

}  // namespace ringtrain
