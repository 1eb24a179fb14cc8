#include "FlagValues.h"

#include <charconv>
#include <cmath>

#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

int64_t parseInteger(const std::string& flag, const std::string& text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  RINGTRAIN_USER_CHECK(!text.empty() && error == std::errc() && end == text.data() + text.size(),
                       "--" << flag << ": '" << text << "' is not an integer");
  return value;
}

uint64_t parseUnsigned(const std::string& flag, const std::string& text) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  RINGTRAIN_USER_CHECK(!text.empty() && error == std::errc() && end == text.data() + text.size(),
                       "--" << flag << ": '" << text << "' is not a non-negative integer");
  return value;
}

double parseReal(const std::string& flag, const std::string& text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  RINGTRAIN_USER_CHECK(!text.empty() && error == std::errc() &&
                           end == text.data() + text.size() && std::isfinite(value),
                       "--" << flag << ": '" << text << "' is not a number");
  return value;
}

std::string parseChoice(const std::string& flag, const std::string& text,
                        const std::vector<std::string>& choices) {
  std::string listed;
  for (const auto& choice : choices) {
    if (choice == text) return text;
    listed += (listed.empty() ? "" : "|") + choice;
  }
  throw UserError("--" + flag + " must be " + listed + ", got '" + text + "'");
}

}  // namespace ringtrain::cli
