// Reading JSON documents that come from files (checkpoint manifests, data set indexes): fields
// checked before they are converted, and documents that carry a checksum of themselves, so that a
// truncated or edited file is told apart from a good one.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ringtrain {

// The CRC-32C of the document's compact text without `field`. nlohmann::json prints an object's
// keys in sorted order, so the text, and the checksum, are reproducible.
uint32_t checksumWithout(nlohmann::json document, const std::string& field);

// `value` as an integer in [low, high]; UserError("<what> ...") for anything else (a fraction, a
// string, a number out of range), where a plain get<> would convert out of range.
int64_t wholeNumber(const nlohmann::json& value, int64_t low, int64_t high,
                    const std::string& what);
// An array of such integers.
std::vector<int64_t> wholeNumbers(const nlohmann::json& value, int64_t low, int64_t high,
                                  const std::string& what);

}  // namespace ringtrain
