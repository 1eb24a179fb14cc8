#include "ringtrain/util/Files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ringtrain/util/Error.h"

namespace ringtrain {
namespace {

std::string reason() {
  return std::strerror(errno);
}

void writeAll(int fd, const std::string& bytes, const std::string& path) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    RINGTRAIN_USER_CHECK(n >= 0, "cannot write " << path << ": " << reason());
    written += static_cast<size_t>(n);
  }
}

}  // namespace

std::string readFile(const std::string& path) {
  std::error_code error;
  RINGTRAIN_USER_CHECK(!std::filesystem::is_directory(path, error),
                       "cannot read " << path << ": it is a directory");
  std::ifstream input(path, std::ios::binary);
  RINGTRAIN_USER_CHECK(input, "cannot read " << path << ": " << reason());
  std::ostringstream bytes;
  bytes << input.rdbuf();
  RINGTRAIN_USER_CHECK(!input.bad(), "cannot read " << path << ": " << reason());
  return bytes.str();
}

void writeFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string temporary = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  RINGTRAIN_USER_CHECK(fd >= 0, "cannot write " << temporary << ": " << reason());
  try {
    writeAll(fd, bytes, temporary);
    RINGTRAIN_USER_CHECK(::fsync(fd) == 0, "cannot flush " << temporary << ": " << reason());
  } catch (...) {
    ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = reason();
    ::unlink(temporary.c_str());
    throw UserError("cannot move " + temporary + " to " + path + ": " + why);
  }
}

void ensureWritableDirectory(const std::string& path, const std::string& what) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  RINGTRAIN_USER_CHECK(!error, what << " " << path << " cannot be created: " << error.message());
  RINGTRAIN_USER_CHECK(std::filesystem::is_directory(path),
                       what << " " << path << " is not a directory");
  RINGTRAIN_USER_CHECK(::access(path.c_str(), W_OK | X_OK) == 0,
                       what << " " << path << " is not writable: " << reason());
}

}  // namespace ringtrain
