#include "platform/CudaStream.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>

#include <ATen/cuda/CUDAContext.h>

namespace ringtrain::platform {

void* currentCudaStream(int device) {
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
}

namespace {

c10::CachingAllocator::Stat allocatedOn(int device) {
  const auto stats =
      c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)];
}

}  // namespace

int64_t peakCudaMemoryBytes(int device) {
  return allocatedOn(device).peak;
}

int64_t cudaMemoryBytes(int device) {
  return allocatedOn(device).current;
}

std::string cudaDeviceName(int device) {
  return at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(device))->name;
}

}  // namespace ringtrain::platform
