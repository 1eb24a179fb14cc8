// MNIST's IDX format: big-endian magic (0x0000 type dims), big-endian dimension sizes, raw data.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "ringtrain/data/Dataset.h"

namespace ringtrain::data {

// Reads an unsigned-byte IDX file of any rank; `name` is used in error messages.
at::Tensor parseIdx(const std::string& bytes, const std::string& name);

// Reads DIR/{train,t10k}-images-idx3-ubyte and -labels-idx1-ubyte; pixels are scaled to [0, 1].
Dataset readIdxDirectory(const std::string& directory, Split split);

}  // namespace ringtrain::data
