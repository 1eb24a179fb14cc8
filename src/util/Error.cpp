#include "ringtrain/util/Error.h"

#include <cstring>

namespace ringtrain::detail {

void throwInternal(const char* file, int line, const std::string& message) {
  const char* base = std::strrchr(file, '/');
  throw InternalError(std::string(base ? base + 1 : file) + ":" + std::to_string(line) + ": " +
                      message);
}

}  // namespace ringtrain::detail
