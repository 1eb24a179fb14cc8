// Error types and check macros. Every failure carries where it was raised; main() adds rank and
// host.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "ringtrain/Export.h"

namespace ringtrain {

// Something the user supplied is wrong (a flag, a file, a value). The message names it; the
// process exits with status 2 and no stack-like detail is shown.
class RINGTRAIN_API UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A broken invariant inside ringtrain or a failing library call: a bug or an environment problem.
class RINGTRAIN_API InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] RINGTRAIN_API void throwInternal(const char* file, int line,
                                              const std::string& message);
}  // namespace detail

}  // namespace ringtrain

// RINGTRAIN_CHECK(cond, "message " << value): throws InternalError("file:line: message").
#define RINGTRAIN_CHECK(cond, msg)                                                           \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::ostringstream ringtrain_check_stream_;                                            \
      ringtrain_check_stream_ << "check failed: " #cond ": " << msg;                         \
      ::ringtrain::detail::throwInternal(__FILE__, __LINE__, ringtrain_check_stream_.str()); \
    }                                                                                        \
  } while (false)

// RINGTRAIN_USER_CHECK(cond, "--flag must be positive"): throws UserError(message).
#define RINGTRAIN_USER_CHECK(cond, msg)                            \
  do {                                                             \
    if (!(cond)) {                                                 \
      std::ostringstream ringtrain_check_stream_;                  \
      ringtrain_check_stream_ << msg;                              \
      throw ::ringtrain::UserError(ringtrain_check_stream_.str()); \
    }                                                              \
  } while (false)
