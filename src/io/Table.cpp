#include "io/Table.h"

#include <ATen/ATen.h>

#include <cstdio>

#include "io/Npy.h"
#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::io {
void checkTablePath(const std::string& flag, const std::string& path) {
  RINGTRAIN_USER_CHECK(hasSuffix(path, ".csv") || hasSuffix(path, ".npy"),
                       "--" << flag << " " << path
                            << ": the name must end in .csv (text with a header line) or .npy "
                               "(a float32 array for numpy)");
  const size_t slash = path.rfind('/');
  const std::string directory = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  RINGTRAIN_USER_CHECK(isDirectory(directory), "--" << flag << " " << path << ": the directory "
                                                    << directory << " does not exist");
}

std::vector<std::string> numberedColumns(const std::string& prefix, int64_t count) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < count; ++i) names.push_back(prefix + std::to_string(i));
  return names;
}

std::string encodeCsvTable(const at::Tensor& values, const std::vector<std::string>& columns) {
  const at::Tensor table = values.to(at::kFloat).contiguous();
  RINGTRAIN_CHECK(table.dim() == 2 && table.size(1) == static_cast<int64_t>(columns.size()),
                  "a table of " << table.sizes() << " for " << columns.size() << " columns");
  std::string text;
  for (size_t c = 0; c < columns.size(); ++c) text += (c ? "," : "") + columns[c];
  text += '\n';
  const float* cell = table.const_data_ptr<float>();
  char number[32];
  for (int64_t r = 0; r < table.size(0); ++r) {
    for (int64_t c = 0; c < table.size(1); ++c, ++cell) {
      // Nine significant digits read back as the same float32.
      const int length = std::snprintf(number, sizeof number, "%.9g", static_cast<double>(*cell));
      if (c) text += ',';
      text.append(number, static_cast<size_t>(length));
    }
    text += '\n';
  }
  return text;
}

void saveTable(const std::string& path, const at::Tensor& values,
               const std::vector<std::string>& columns) {
  if (hasSuffix(path, ".csv")) {
    writeFileAtomically(path, encodeCsvTable(values, columns));
    return;
  }
  RINGTRAIN_CHECK(hasSuffix(path, ".npy"), "a table written to " << path);
  RINGTRAIN_CHECK(values.dim() == 2 && values.size(1) == static_cast<int64_t>(columns.size()),
                  "a table of " << values.sizes() << " for " << columns.size() << " columns");
  saveNpy(path, values.to(at::kFloat).contiguous());
}

}  // namespace ringtrain::io
