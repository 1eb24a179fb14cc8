#include "util/MappedFile.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ringtrain/util/Error.h"

namespace ringtrain {
namespace {

size_t pageSize() {
  static const auto size = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: a FIFO given by mistake is refused below instead of waiting for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  RINGTRAIN_USER_CHECK(fd >= 0, "cannot read " << path << ": " << std::strerror(errno));
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    const std::string why = S_ISDIR(status.st_mode) ? "it is a directory" : std::strerror(errno);
    ::close(fd);
    throw UserError("cannot read " + path + ": " + why);
  }
  const auto size = static_cast<size_t>(status.st_size);
  if (size == 0) {
    ::close(fd);
    throw UserError(path + " is empty");
  }
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int mapError = errno;
  ::close(fd);  // the mapping keeps the file open
  RINGTRAIN_USER_CHECK(data != MAP_FAILED,
                       "cannot map " << path << " into memory: " << std::strerror(mapError));
  return std::shared_ptr<const MappedFile>(
      new MappedFile(path, static_cast<const char*>(data), size));
}

MappedFile::MappedFile(std::string path, const char* data, size_t size)
    : path_(std::move(path)), data_(data), size_(size) {}

MappedFile::~MappedFile() {
  ::munmap(const_cast<char*>(data_), size_);
}

void MappedFile::expectRandomAccess() const {
  ::madvise(const_cast<char*>(data_), size_, MADV_RANDOM);
}

void MappedFile::willNeed(size_t offset, size_t length) const {
  if (offset >= size_ || length == 0) return;
  const size_t begin = offset / pageSize() * pageSize();
  const size_t end = std::min(size_, offset + length);
  // Advice only: a failure costs speed, never correctness.
  ::madvise(const_cast<char*>(data_) + begin, end - begin, MADV_WILLNEED);
}

}  // namespace ringtrain
