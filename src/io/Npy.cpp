#include "io/Npy.h"

#include <ATen/ATen.h>

#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::io {
namespace {

std::string descriptor(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return "<f4";
    case at::kDouble:
      return "<f8";
    case at::kLong:
      return "<i8";
    case at::kInt:
      return "<i4";
    default:
      throw InternalError(std::string(".npy output of dtype ") + at::toString(type));
  }
}

}  // namespace

std::string encodeNpy(const at::Tensor& tensor) {
  RINGTRAIN_CHECK(tensor.device().is_cpu(), ".npy output of a tensor on " << tensor.device());
  std::string shape;
  for (int64_t d = 0; d < tensor.dim(); ++d) {
    shape += (d ? ", " : "") + std::to_string(tensor.size(d));
  }
  shape = "(" + shape + (tensor.dim() == 1 ? ",)" : ")");
  std::string header = "{'descr': '" + descriptor(tensor.scalar_type()) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6), version (2) and length (2) before it; the data starts 64-byte aligned.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  const at::Tensor values = tensor.contiguous();
  bytes.append(static_cast<const char*>(values.const_data_ptr()), values.nbytes());
  return bytes;
}

void saveNpy(const std::string& path, const at::Tensor& tensor) {
  writeFileAtomically(path, encodeNpy(tensor));
}

}  // namespace ringtrain::io
