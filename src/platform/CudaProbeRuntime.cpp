#include <cuda_runtime.h>

#include "platform/CudaProbe.h"

namespace ringtrain::platform {

CudaProbe probeCuda() {
  CudaProbe probe;
  cudaDriverGetVersion(&probe.driverVersion);  // 0 when there is no driver
  cudaRuntimeGetVersion(&probe.runtimeVersion);
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status == cudaSuccess) {
    probe.outcome = devices > 0 ? CudaProbe::Outcome::kDevices : CudaProbe::Outcome::kNoDevice;
  } else if (status == cudaErrorNoDevice) {
    probe.outcome = CudaProbe::Outcome::kNoDevice;
  } else if (status == cudaErrorInsufficientDriver) {
    probe.outcome = probe.driverVersion == 0 ? CudaProbe::Outcome::kNoDriver
                                             : CudaProbe::Outcome::kDriverTooOld;
  } else {
    probe.outcome = CudaProbe::Outcome::kFailed;
    probe.error = cudaGetErrorString(status);
  }
  cudaGetLastError();  // the probe's error is reported here, not left for the next CUDA call
  return probe;
}

}  // namespace ringtrain::platform
