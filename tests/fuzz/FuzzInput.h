// Shared by the fuzz targets: a parser may reject its input only with UserError (the clear,
// one-line error a user sees); anything else escaping it, a crash, or a sanitizer report is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ringtrain/util/Error.h"

namespace ringtrain::fuzz {

inline std::string asText(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Runs `parse`; UserError is an accepted outcome.
template <typename Parse>
void expectParsedOrRejected(Parse&& parse) {
  try {
    parse();
  } catch (const UserError&) {
  }
}

}  // namespace ringtrain::fuzz
