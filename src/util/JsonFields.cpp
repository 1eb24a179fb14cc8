#include "util/JsonFields.h"

#include "ringtrain/util/Error.h"
#include "util/Crc32c.h"

namespace ringtrain {

uint32_t checksumWithout(nlohmann::json document, const std::string& field) {
  document.erase(field);
  return crc32c(document.dump());
}

int64_t wholeNumber(const nlohmann::json& value, int64_t low, int64_t high,
                    const std::string& what) {
  if (value.is_number_unsigned()) {
    const auto number = value.get<uint64_t>();
    if (number <= static_cast<uint64_t>(high) && static_cast<int64_t>(number) >= low)
      return static_cast<int64_t>(number);
  } else if (value.is_number_integer()) {
    const auto number = value.get<int64_t>();
    if (number >= low && number <= high) return number;
  }
  const std::string text = value.dump();
  throw UserError(what + " is " + (text.size() > 40 ? text.substr(0, 40) + "..." : text) +
                  ", not a whole number from " + std::to_string(low) + " to " +
                  std::to_string(high));
}

std::vector<int64_t> wholeNumbers(const nlohmann::json& value, int64_t low, int64_t high,
                                  const std::string& what) {
  RINGTRAIN_USER_CHECK(value.is_array(), what << " is not a list");
  std::vector<int64_t> numbers;
  for (const nlohmann::json& item : value) numbers.push_back(wholeNumber(item, low, high, what));
  return numbers;
}

}  // namespace ringtrain
