// The one-line text of an exception: LibTorch's errors carry a C++ backtrace that users do not
// need.
#pragma once

#include <c10/util/Exception.h>

#include <exception>
#include <string>

namespace ringtrain::launch {

inline std::string errorText(const std::exception& error) {
  if (const auto* torchError = dynamic_cast<const c10::Error*>(&error)) {
    return torchError->what_without_backtrace();
  }
  return error.what();
}

}  // namespace ringtrain::launch
