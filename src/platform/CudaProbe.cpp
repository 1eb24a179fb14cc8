#include "platform/CudaProbe.h"

namespace ringtrain::platform {
namespace {

std::string cudaVersion(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

}  // namespace

std::optional<std::string> unusableGpuReason(const CudaProbe& probe) {
  switch (probe.outcome) {
    case CudaProbe::Outcome::kDriverTooOld:
      return "the NVIDIA driver supports CUDA up to " + cudaVersion(probe.driverVersion) +
             " but this ringtrain runs CUDA " + cudaVersion(probe.runtimeVersion) +
             ": update the driver (nvidia-smi shows the CUDA version it supports)";
    case CudaProbe::Outcome::kFailed:
      return "CUDA cannot use the GPUs: " + probe.error;
    case CudaProbe::Outcome::kDevices:
    case CudaProbe::Outcome::kNoDevice:
    case CudaProbe::Outcome::kNoDriver:
    case CudaProbe::Outcome::kNotCompiledIn:
      break;
  }
  return std::nullopt;
}

}  // namespace ringtrain::platform
