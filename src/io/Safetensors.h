// The safetensors file format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length, a JSON header mapping names to {dtype, shape, data_offsets}, then the raw
// little-endian tensor bytes. Python's `safetensors.torch.load_file` reads what we write.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ringtrain::io {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
using Metadata = std::map<std::string, std::string>;

// Serialises CPU tensors (float32/64, float16, bfloat16, int64/32/16/8, uint8, bool).
std::string encodeSafetensors(const NamedTensors& tensors, const Metadata& metadata = {});

// For files written in a stream, one tensor (or one piece of a tensor) at a time: a tensor's
// name, type and shape, and the file's beginning (its 8-byte length and JSON header) for
// `entries` whose bytes follow it in their order, `dataBytes` of them in all.
struct TensorEntry {
  std::string name;
  at::ScalarType type = at::kFloat;
  std::vector<int64_t> shape;
};
uint64_t dataBytes(const TensorEntry& entry);
std::string safetensorsHeader(const std::vector<TensorEntry>& entries,
                              const Metadata& metadata = {});
// Where a file's bytes go, in order.
using ByteSink = std::function<void(const void* data, size_t size)>;
// A whole file through `append`: the header, then each tensor's bytes, copied to the CPU one at a
// time where they live elsewhere.
void streamSafetensors(const NamedTensors& tensors, const Metadata& metadata,
                       const ByteSink& append);

// Parses and validates; UserError naming `name` on any malformation.
NamedTensors decodeSafetensors(const std::string& bytes, const std::string& name,
                               Metadata* metadata = nullptr);

// Writes atomically (temporary file, fsync, rename), one tensor at a time: no copy of the whole
// file is made in memory.
void saveSafetensors(const std::string& path, const NamedTensors& tensors,
                     const Metadata& metadata = {});
NamedTensors loadSafetensors(const std::string& path, Metadata* metadata = nullptr);

}  // namespace ringtrain::io
