// The safetensors file format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length, a JSON header mapping names to {dtype, shape, data_offsets}, then the raw
// little-endian tensor bytes. Python's `safetensors.torch.load_file` reads what we write.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ringtrain::io {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
using Metadata = std::map<std::string, std::string>;

// Serialises CPU tensors (float32/64, float16, bfloat16, int64/32/16/8, uint8, bool).
std::string encodeSafetensors(const NamedTensors& tensors, const Metadata& metadata = {});

// Parses and validates; UserError naming `name` on any malformation.
NamedTensors decodeSafetensors(const std::string& bytes, const std::string& name,
                               Metadata* metadata = nullptr);

// Writes atomically (temporary file, fsync, rename).
void saveSafetensors(const std::string& path, const NamedTensors& tensors,
                     const Metadata& metadata = {});
NamedTensors loadSafetensors(const std::string& path, Metadata* metadata = nullptr);

}  // namespace ringtrain::io
