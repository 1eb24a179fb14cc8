// Strict text-to-number conversion: the whole text must be the number, nothing before or after;
// and the shortest text that reads back as the same double.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringtrain {

std::optional<int64_t> parseInt64(std::string_view text);
std::optional<uint64_t> parseUint64(std::string_view text);
// A leading '+' is accepted; "nan" and "inf" parse.
std::optional<double> parseDouble(std::string_view text);
// As parseDouble, finite values only.
std::optional<double> parseFiniteDouble(std::string_view text);

// "0.3" for 0.3, whatever the locale; parseDouble reads it back exactly.
std::string shortestText(double value);

}  // namespace ringtrain
