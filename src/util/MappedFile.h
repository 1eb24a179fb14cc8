// A whole file mapped read-only into memory. Pages are read from disk only when touched, so a
// process that reads a few samples of a large file costs only those pages, and the kernel may
// drop them again under memory pressure (they are clean and backed by the file).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace ringtrain {

class MappedFile {
 public:
  // UserError naming the path if it cannot be opened or mapped, or is empty.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Access will be in no particular order: the kernel should not read ahead.
  void expectRandomAccess() const;
  // The bytes [offset, offset + length) will be read soon: the kernel starts reading them now,
  // without waiting.
  void willNeed(size_t offset, size_t length) const;

 private:
  MappedFile(std::string path, const char* data, size_t size);

  std::string path_;
  const char* data_;
  size_t size_;
};

}  // namespace ringtrain
