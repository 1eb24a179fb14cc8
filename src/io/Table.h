// Writing a table of numbers ([rows, columns]) in the format the file's name asks for, so that a
// spreadsheet, pandas or numpy reads it as it is:
//   .csv  a header line of the column names, then one line per row, each number printed so that
//         it reads back as the same float32 (whole numbers without a decimal point)
//   .npy  float32 [rows, columns] (Npy.h), the columns in the same order
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace ringtrain::io {

// UserError naming `flag` when the extension is neither .csv nor .npy (checked before any work,
// so that a long job does not end in it).
void checkTablePath(const std::string& flag, const std::string& path);

// `values`: a CPU tensor [rows, columns.size()], converted to float32. Writes atomically.
void saveTable(const std::string& path, const at::Tensor& values,
               const std::vector<std::string>& columns);

// {prefix0, prefix1, ..., prefix<count-1>}: column names such as p_0, p_1.
std::vector<std::string> numberedColumns(const std::string& prefix, int64_t count);

// The CSV text saveTable writes.
std::string encodeCsvTable(const at::Tensor& values, const std::vector<std::string>& columns);

}  // namespace ringtrain::io
