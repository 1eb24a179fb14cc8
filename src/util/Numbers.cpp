#include "util/Numbers.h"

#include <charconv>
#include <cmath>

namespace ringtrain {
namespace {

template <typename T>
std::optional<T> parseWhole(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end) return std::nullopt;
  return value;
}

}  // namespace

std::optional<int64_t> parseInt64(std::string_view text) {
  return parseWhole<int64_t>(text);
}
std::optional<uint64_t> parseUint64(std::string_view text) {
  return parseWhole<uint64_t>(text);
}

std::optional<double> parseDouble(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);  // from_chars rejects '+'
  return parseWhole<double>(text);
}

std::optional<double> parseFiniteDouble(std::string_view text) {
  const auto value = parseDouble(text);
  if (!value || !std::isfinite(*value)) return std::nullopt;
  return value;
}

std::string shortestText(double value) {
  char text[32];
  const auto [end, error] = std::to_chars(text, text + sizeof text, value);
  return error == std::errc() ? std::string(text, end) : std::string("nan");
}

}  // namespace ringtrain
