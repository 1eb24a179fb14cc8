#include "util/Files.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "ringtrain/util/Error.h"

namespace ringtrain {
namespace {

std::string reason() {
  return std::strerror(errno);
}

void writeAll(int fd, std::string_view bytes, const std::string& path) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    RINGTRAIN_USER_CHECK(n >= 0, "cannot write " << path << ": " << reason());
    written += static_cast<size_t>(n);
  }
}

void writeAllAt(int fd, const void* data, size_t size, uint64_t offset, const std::string& path) {
  const auto* bytes = static_cast<const char*>(data);
  size_t written = 0;
  while (written < size) {
    const ssize_t n =
        ::pwrite(fd, bytes + written, size - written, static_cast<off_t>(offset + written));
    if (n < 0 && errno == EINTR) continue;
    RINGTRAIN_USER_CHECK(n >= 0, "cannot write " << path << ": " << reason());
    written += static_cast<size_t>(n);
  }
}

}  // namespace

bool hasSuffix(const std::string& name, const std::string& suffix) {
  return name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string readFile(const std::string& path) {
  RINGTRAIN_USER_CHECK(!isDirectory(path), "cannot read " << path << ": it is a directory");
  std::ifstream input(path, std::ios::binary);
  RINGTRAIN_USER_CHECK(input, "cannot read " << path << ": " << reason());
  std::ostringstream bytes;
  bytes << input.rdbuf();
  RINGTRAIN_USER_CHECK(!input.bad(), "cannot read " << path << ": " << reason());
  return bytes.str();
}

void writeFileDurably(const std::string& path, const std::string& bytes) {
  FileWriter file(path);
  file.append(bytes.data(), bytes.size());
  file.finish();
}

FileWriter::FileWriter(const std::string& path)
    : path_(path), fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) {
  RINGTRAIN_USER_CHECK(fd_ >= 0, "cannot write " << path << ": " << reason());
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void FileWriter::append(const void* data, size_t size) {
  constexpr size_t kBufferBytes = size_t{1} << 20;
  if (buffer_.size() + size > kBufferBytes) flushBuffer();
  if (size >= kBufferBytes) {
    writeAll(fd_, std::string_view(static_cast<const char*>(data), size), path_);
  } else {
    buffer_.append(static_cast<const char*>(data), size);
  }
  size_ += size;
}

void overwriteDurably(const std::string& path, uint64_t offset, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  RINGTRAIN_USER_CHECK(fd >= 0, "cannot write " << path << ": " << reason());
  try {
    writeAllAt(fd, bytes.data(), bytes.size(), offset, path);
    RINGTRAIN_USER_CHECK(::fsync(fd) == 0, "cannot flush " << path << ": " << reason());
  } catch (...) {
    ::close(fd);
    throw;
  }
  RINGTRAIN_USER_CHECK(::close(fd) == 0, "cannot write " << path << ": " << reason());
}

void FileWriter::flushBuffer() {
  writeAll(fd_, buffer_, path_);
  buffer_.clear();
}

void FileWriter::finish() {
  flushBuffer();
  RINGTRAIN_USER_CHECK(::fsync(fd_) == 0, "cannot flush " << path_ << ": " << reason());
  const int fd = fd_;
  fd_ = -1;
  RINGTRAIN_USER_CHECK(::close(fd) == 0, "cannot write " << path_ << ": " << reason());
}

void dropCachedPages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  RINGTRAIN_USER_CHECK(fd >= 0, "cannot read " << path << ": " << reason());
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

void syncDirectory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  RINGTRAIN_USER_CHECK(fd >= 0, "cannot open directory " << path << ": " << reason());
  const bool synced = ::fsync(fd) == 0;
  const std::string why = synced ? std::string() : reason();
  ::close(fd);
  RINGTRAIN_USER_CHECK(synced, "cannot flush directory " << path << ": " << why);
}

void writeFileAtomically(const std::string& path, const std::string& bytes) {
  writeFileAtomically(path, [&](FileWriter& file) { file.append(bytes.data(), bytes.size()); });
}

void writeFileAtomically(const std::string& path, const std::function<void(FileWriter&)>& write) {
  const std::string temporary = path + ".tmp-" + std::to_string(::getpid());
  try {
    FileWriter file(temporary);
    write(file);
    file.finish();
  } catch (...) {
    ::unlink(temporary.c_str());
    throw;
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = reason();
    ::unlink(temporary.c_str());
    throw UserError("cannot move " + temporary + " to " + path + ": " + why);
  }
}

bool isDirectory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool pathExists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

void makeDirectories(const std::string& path) {
  if (path.empty() || isDirectory(path)) return;
  const size_t slash = path.find_last_of('/', path.size() - 2);
  if (slash != std::string::npos && slash > 0) makeDirectories(path.substr(0, slash));
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    throw UserError("cannot create directory " + path + ": " + reason());
  }
  RINGTRAIN_USER_CHECK(isDirectory(path), path << " exists and is not a directory");
}

std::vector<std::string> listDirectory(const std::string& path) {
  std::vector<std::string> names;
  DIR* directory = ::opendir(path.c_str());
  if (directory == nullptr) return names;
  while (const dirent* entry = ::readdir(directory)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(directory);
  return names;
}

void removeTree(const std::string& path) {
  if (!pathExists(path)) return;
  // Depth first, without following symbolic links out of the tree.
  ::nftw(
      path.c_str(),
      [](const char* entry, const struct stat*, int, struct FTW*) {
        std::remove(entry);
        return 0;
      },
      16, FTW_DEPTH | FTW_PHYS);
}

void renamePath(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    throw UserError("cannot move " + from + " to " + to + ": " + reason());
  }
}

void replaceDirectory(const std::string& from, const std::string& to, const std::string& aside) {
  if (!pathExists(to) || listDirectory(to).empty()) {
    renamePath(from, to);  // rename(2) replaces an empty directory
    return;
  }
  removeTree(aside);
  renamePath(to, aside);
  try {
    renamePath(from, to);
  } catch (...) {
    try {
      renamePath(aside, to);
    } catch (...) {
    }
    throw;
  }
  removeTree(aside);
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
