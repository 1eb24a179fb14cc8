// One table of names per enum, so that the flag that reads a setting, the error that lists its
// choices and the outputs that print it (the banner, summary.json) cannot disagree.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ringtrain/util/Error.h"

namespace ringtrain {

template <typename Enum>
using NameTable = std::vector<std::pair<std::string, Enum>>;

// "auto|on|off": the names in table order, as errors list them.
template <typename Enum>
std::string namesIn(const NameTable<Enum>& table) {
  std::string names;
  for (const auto& entry : table) names += (names.empty() ? "" : "|") + entry.first;
  return names;
}

// "auto, on or off": the names in table order, as help text lists them.
template <typename Enum>
std::string choicesIn(const NameTable<Enum>& table) {
  std::string names;
  for (size_t i = 0; i < table.size(); ++i) {
    names += (i == 0 ? "" : i + 1 == table.size() ? " or " : ", ") + table[i].first;
  }
  return names;
}

template <typename Enum>
const std::string& nameOf(const NameTable<Enum>& table, Enum value) {
  for (const auto& entry : table) {
    if (entry.second == value) return entry.first;
  }
  detail::throwInternal(__FILE__, __LINE__, "a setting without a name in its table");
}

// The value `text` names, if any.
template <typename Enum>
std::optional<Enum> findNamed(const NameTable<Enum>& table, const std::string& text) {
  for (const auto& entry : table) {
    if (entry.first == text) return entry.second;
  }
  return std::nullopt;
}

// The value `text` names; UserError "--flag must be auto|on|off, got 'x'" otherwise.
template <typename Enum>
Enum valueNamed(const NameTable<Enum>& table, const std::string& flag, const std::string& text) {
  for (const auto& entry : table) {
    if (entry.first == text) return entry.second;
  }
  throw UserError("--" + flag + " must be " + namesIn(table) + ", got '" + text + "'");
}

}  // namespace ringtrain
