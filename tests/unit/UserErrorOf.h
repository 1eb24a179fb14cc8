// What a UserError said, for tests of error messages.
#pragma once

#include <functional>
#include <string>

#include "ringtrain/util/Error.h"

namespace ringtrain::testing {

// The message of the UserError `action` throws, or "no error".
inline std::string userErrorOf(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& error) {
    return error.what();
  }
  return "no error";
}

}  // namespace ringtrain::testing
