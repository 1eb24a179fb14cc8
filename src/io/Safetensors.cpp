#include "io/Safetensors.h"

#include <ATen/ATen.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ULL << 20;  // the format's own limit

const std::vector<std::pair<at::ScalarType, std::string>>& dtypeNames() {
  static const std::vector<std::pair<at::ScalarType, std::string>> names{
      {at::kFloat, "F32"}, {at::kDouble, "F64"}, {at::kHalf, "F16"},  {at::kBFloat16, "BF16"},
      {at::kLong, "I64"},  {at::kInt, "I32"},    {at::kShort, "I16"}, {at::kChar, "I8"},
      {at::kByte, "U8"},   {at::kBool, "BOOL"}};
  return names;
}

std::string dtypeName(at::ScalarType type) {
  for (const auto& [scalar, name] : dtypeNames()) {
    if (scalar == type) return name;
  }
  throw InternalError(std::string("safetensors cannot store dtype ") + at::toString(type));
}

at::ScalarType scalarType(const std::string& dtype, const std::string& where) {
  for (const auto& [scalar, name] : dtypeNames()) {
    if (name == dtype) return scalar;
  }
  throw UserError(where + ": unsupported dtype '" + dtype + "'");
}

}  // namespace

uint64_t dataBytes(const TensorEntry& entry) {
  uint64_t elements = 1;
  for (const int64_t extent : entry.shape) elements *= static_cast<uint64_t>(extent);
  return elements * at::elementSize(entry.type);
}

std::string safetensorsHeader(const std::vector<TensorEntry>& entries, const Metadata& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorEntry& entry : entries) {
    RINGTRAIN_CHECK(!header.contains(entry.name),
                    "safetensors: duplicate tensor name " << entry.name);
    const uint64_t bytes = dataBytes(entry);
    header[entry.name] = {{"dtype", dtypeName(entry.type)},
                          {"shape", entry.shape},
                          {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned

  std::string beginning(8, '\0');
  const uint64_t headerSize = json.size();
  for (int i = 0; i < 8; ++i) beginning[i] = static_cast<char>((headerSize >> (8 * i)) & 0xff);
  return beginning + json;
}

void streamSafetensors(const NamedTensors& tensors, const Metadata& metadata,
                       const ByteSink& append) {
  std::vector<TensorEntry> entries;
  for (const auto& [name, tensor] : tensors) {
    entries.push_back({name, tensor.scalar_type(), tensor.sizes().vec()});
  }
  const std::string header = safetensorsHeader(entries, metadata);
  append(header.data(), header.size());
  for (const auto& [name, tensor] : tensors) {
    const at::Tensor host = tensor.detach().to(at::kCPU).contiguous();
    append(host.const_data_ptr(), host.nbytes());
  }
}

std::string encodeSafetensors(const NamedTensors& tensors, const Metadata& metadata) {
  std::string file;
  streamSafetensors(tensors, metadata, [&](const void* data, size_t bytes) {
    file.append(static_cast<const char*>(data), bytes);
  });
  return file;
}

NamedTensors decodeSafetensors(const std::string& bytes, const std::string& name,
                               Metadata* metadata) {
  RINGTRAIN_USER_CHECK(bytes.size() >= 8, name << ": too short to be a safetensors file");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | static_cast<unsigned char>(bytes[i]);
  RINGTRAIN_USER_CHECK(headerSize <= kMaxHeaderBytes && headerSize <= bytes.size() - 8,
                       name << ": header length " << headerSize << " exceeds the file");
  nlohmann::json header =
      nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(headerSize),
                            nullptr, /*allow_exceptions=*/false);
  RINGTRAIN_USER_CHECK(header.is_object(), name << ": header is not a JSON object");
  const uint64_t dataSize = bytes.size() - 8 - headerSize;
  const char* data = bytes.data() + 8 + headerSize;

  NamedTensors tensors;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [tensorName, entry] : header.items()) {
    if (tensorName == "__metadata__") {
      RINGTRAIN_USER_CHECK(entry.is_object(), name << ": __metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        RINGTRAIN_USER_CHECK(value.is_string(),
                             name << ": metadata '" << key << "' is not a string");
        if (metadata) (*metadata)[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = name + ": tensor '" + tensorName + "'";
    RINGTRAIN_USER_CHECK(entry.is_object() && entry.contains("dtype") &&
                             entry["dtype"].is_string() && entry.contains("shape") &&
                             entry["shape"].is_array() && entry.contains("data_offsets") &&
                             entry["data_offsets"].is_array() && entry["data_offsets"].size() == 2,
                         where << ": needs dtype, shape and data_offsets");
    const at::ScalarType type = scalarType(entry["dtype"].get<std::string>(), where);
    std::vector<int64_t> shape;
    uint64_t elements = 1;
    for (const auto& extent : entry["shape"]) {
      RINGTRAIN_USER_CHECK(extent.is_number_unsigned() && extent.get<uint64_t>() <= dataSize + 1,
                           where << ": bad shape");
      shape.push_back(extent.get<int64_t>());
      elements *= extent.get<uint64_t>();
      RINGTRAIN_USER_CHECK(elements <= dataSize + 1, where << ": shape exceeds the file");
    }
    const auto& offsets = entry["data_offsets"];
    RINGTRAIN_USER_CHECK(offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
                         where << ": bad data_offsets");
    const auto begin = offsets[0].get<uint64_t>();
    const auto end = offsets[1].get<uint64_t>();
    RINGTRAIN_USER_CHECK(begin <= end && end <= dataSize,
                         where << ": data_offsets outside the file");
    RINGTRAIN_USER_CHECK(end - begin == elements * at::elementSize(type),
                         where << ": " << end - begin << " bytes do not match its shape and dtype");
    ranges.emplace_back(begin, end);
    at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(type));
    if (end > begin) std::memcpy(tensor.data_ptr(), data + begin, end - begin);
    tensors.emplace_back(tensorName, std::move(tensor));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    RINGTRAIN_USER_CHECK(ranges[i].first >= ranges[i - 1].second,
                         name << ": tensors overlap in the data section");
  }
  return tensors;
}

void saveSafetensors(const std::string& path, const NamedTensors& tensors,
                     const Metadata& metadata) {
  writeFileAtomically(path, [&](FileWriter& file) {
    streamSafetensors(tensors, metadata,
                      [&](const void* data, size_t bytes) { file.append(data, bytes); });
  });
}

NamedTensors loadSafetensors(const std::string& path, Metadata* metadata) {
  return decodeSafetensors(readFile(path), path, metadata);
}

}  // namespace ringtrain::io
