#include "BucketKernels.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include <optional>

#include "BucketPack.h"
#include "WireCast.h"
#include "platform/CudaStream.h"

namespace ringtrain::ddp {
namespace {

bool kernelTakes(const at::Tensor& tensor) {
  return tensor.scalar_type() == at::kFloat && tensor.is_contiguous();
}

kernels::WireFormat wireFormat(GradCompression compression) {
  return compression == GradCompression::kFp16 ? kernels::WireFormat::kFp16
                                               : kernels::WireFormat::kBf16;
}

void* streamOf(const at::Tensor& tensor) {
  return platform::currentCudaStream(tensor.get_device());
}

// Kernels launch on the calling thread's current device, which on the reducer's communication
// thread (--backend mpi on GPUs) is not the tensors' one unless set.
std::optional<c10::Device> gpuOf(const at::Tensor& tensor) {
  if (!tensor.is_cuda()) return std::nullopt;
  return tensor.device();
}

}  // namespace

void packGradient(const at::Tensor& gradient, at::Tensor& slot, float scale) {
  if (!kernelTakes(gradient) || !kernelTakes(slot) || gradient.device() != slot.device()) {
    slot.copy_(gradient).mul_(scale);
    return;
  }
  const std::vector<kernels::FloatSpan> source{{gradient.const_data_ptr<float>(), slot.numel()}};
  const c10::OptionalDeviceGuard guard(gpuOf(slot));
  if (slot.is_cuda()) {
    kernels::packScaledCuda(source, slot.data_ptr<float>(), scale, streamOf(slot));
  } else {
    kernels::packScaledCpu(source, slot.data_ptr<float>(), scale);
  }
}

at::Tensor narrowForWire(const at::Tensor& values, float scale, GradCompression compression) {
  const at::ScalarType wireType = compression == GradCompression::kFp16 ? at::kHalf : at::kBFloat16;
  if (!kernelTakes(values)) return values.mul(scale).to(wireType);
  at::Tensor wire = at::empty(values.sizes(), values.options().dtype(wireType));
  auto* bits = static_cast<uint16_t*>(wire.data_ptr());
  const c10::OptionalDeviceGuard guard(gpuOf(values));
  if (values.is_cuda()) {
    kernels::narrowScaledCuda(values.const_data_ptr<float>(), bits, values.numel(), scale,
                              wireFormat(compression), streamOf(values));
  } else {
    kernels::narrowScaledCpu(values.const_data_ptr<float>(), bits, values.numel(), scale,
                             wireFormat(compression));
  }
  return wire;
}

void widenFromWire(const at::Tensor& wire, at::Tensor& values) {
  if (!kernelTakes(values)) {
    values.copy_(wire);
    return;
  }
  const auto format =
      wire.scalar_type() == at::kHalf ? kernels::WireFormat::kFp16 : kernels::WireFormat::kBf16;
  const auto* bits = static_cast<const uint16_t*>(wire.const_data_ptr());
  const c10::OptionalDeviceGuard guard(gpuOf(values));
  if (values.is_cuda()) {
    kernels::widenCuda(bits, values.data_ptr<float>(), values.numel(), format, streamOf(values));
  } else {
    kernels::widenCpu(bits, values.data_ptr<float>(), values.numel(), format);
  }
}

}  // namespace ringtrain::ddp
