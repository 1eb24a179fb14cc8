// Writing NumPy .npy files (format 1.0, C order, little-endian), which numpy.load reads.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace ringtrain::io {

// The whole .npy file for a CPU tensor of float32, float64, int64 or int32.
std::string encodeNpy(const at::Tensor& tensor);

// Writes atomically (temporary file, fsync, rename); UserError naming the path.
void saveNpy(const std::string& path, const at::Tensor& tensor);

}  // namespace ringtrain::io
