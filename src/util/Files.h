// Small filesystem helpers whose errors name the path.
//
// The directory helpers use POSIX calls rather than std::filesystem: the PyTorch wheel's
// libtorch.so exports its own copy of std::filesystem, which the dynamic linker can bind in place
// of libstdc++'s, and some of its functions crash when called from our code
// (std::filesystem::remove_all jumps to address 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ringtrain {

// True when the name ends in `suffix` (an extension such as ".csv").
bool hasSuffix(const std::string& name, const std::string& suffix);

// Whole file as bytes; UserError("cannot read PATH: reason") on failure.
std::string readFile(const std::string& path);

// Writes `bytes` to PATH.tmp-<pid>, flushes it to disk, then renames it over PATH, so readers see
// either the old file or the complete new one, never a partial write.
void writeFileAtomically(const std::string& path, const std::string& bytes);
// The same, the file's bytes appended in pieces by `write`, so that the whole file is never in
// memory.
class FileWriter;
void writeFileAtomically(const std::string& path, const std::function<void(FileWriter&)>& write);

// Writes `bytes` to PATH (created or truncated) and flushes it to disk; UserError naming PATH.
void writeFileDurably(const std::string& path, const std::string& bytes);

// A file written in pieces, through a buffer, then flushed to disk. Every failure is a UserError
// naming the path (a full disk, a file-size limit).
class FileWriter {
 public:
  explicit FileWriter(const std::string& path);  // created, or truncated
  ~FileWriter();                                 // closes; what was not finished may be lost
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  void append(const void* data, size_t size);
  uint64_t size() const { return size_; }
  // Writes what is buffered, flushes the file to disk and closes it.
  void finish();

 private:
  void flushBuffer();

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string buffer_;
};

// Overwrites bytes of an existing file at `offset` and flushes it to disk; UserError naming PATH.
void overwriteDurably(const std::string& path, uint64_t offset, const std::string& bytes);

// Asks the kernel to drop the file's clean pages from the page cache (for cold-read benchmarks);
// UserError naming PATH if it cannot be opened.
void dropCachedPages(const std::string& path);

// Flushes a directory's entries (files created or renamed in it) to disk.
void syncDirectory(const std::string& path);

bool isDirectory(const std::string& path);
bool pathExists(const std::string& path);
// Creates the directory and its parents; UserError naming the path.
void makeDirectories(const std::string& path);
// Names in the directory (without "." and ".."); empty if it cannot be read.
std::vector<std::string> listDirectory(const std::string& path);
// Removes a file or a directory tree, as far as it can; never throws.
void removeTree(const std::string& path);
// rename(2); UserError naming both paths.
void renamePath(const std::string& from, const std::string& to);
// Moves the directory `from` to `to`. A non-empty `to` is first moved to `aside` and removed only
// once `from` is in place; if that move fails, it is put back.
void replaceDirectory(const std::string& from, const std::string& to, const std::string& aside);

// Creates the directory (and parents) and proves it is writable; UserError naming `what` if not.
void ensureWritableDirectory(const std::string& path, const std::string& what);

}  // namespace ringtrain
