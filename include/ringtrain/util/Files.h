// Small filesystem helpers whose errors name the path.
#pragma once

#include <string>

namespace ringtrain {

// Whole file as bytes; UserError("cannot read PATH: reason") on failure.
std::string readFile(const std::string& path);

// Writes `bytes` to PATH.tmp-<pid>, flushes it to disk, then renames it over PATH, so readers see
// either the old file or the complete new one, never a partial write.
void writeFileAtomically(const std::string& path, const std::string& bytes);

// Creates the directory (and parents) and proves it is writable; UserError naming `what` if not.
void ensureWritableDirectory(const std::string& path, const std::string& what);

}  // namespace ringtrain
