// Runs an element operation over many spans in as few launches as possible: the spans of a launch
// travel in the kernel's parameters (which CUDA limits to 4 KiB), each thread block takes
// kElementsPerBlock elements of one span.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace ringtrain::kernels {

constexpr int kThreadsPerBlock = 256;
constexpr int64_t kElementsPerBlock = 4 * kThreadsPerBlock;

inline void checkCuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

template <typename Span, typename Extra>
struct SpanBatch {
  static constexpr int kCapacity =
      static_cast<int>((3800 - sizeof(Extra)) / (sizeof(Span) + sizeof(Extra) + sizeof(int64_t)));
  Span spans[kCapacity];
  Extra extras[kCapacity];  // per-span constants
  int64_t firstBlock[kCapacity + 1];
  int count;
};

// `Operation` is a functor with `__device__ void operator()(const Span&, const Extra&, int64_t)`.
template <typename Span, typename Extra, typename Operation>
__global__ void forEachElementKernel(SpanBatch<Span, Extra> batch, Operation operation) {
  const int64_t block = blockIdx.x;
  int lo = 0;
  int hi = batch.count - 1;
  while (lo < hi) {  // the span whose blocks contain this one
    const int mid = (lo + hi + 1) / 2;
    if (batch.firstBlock[mid] <= block)
      lo = mid;
    else
      hi = mid - 1;
  }
  const Span& span = batch.spans[lo];
  const int64_t start = (block - batch.firstBlock[lo]) * kElementsPerBlock;
  for (int64_t i = start + threadIdx.x; i < start + kElementsPerBlock && i < span.size;
       i += kThreadsPerBlock) {
    operation(span, batch.extras[lo], i);
  }
}

template <typename Span, typename Extra, typename Operation>
void forEachElement(const std::vector<Span>& spans, const std::vector<Extra>& extras,
                    Operation operation, void* stream, const char* name) {
  using Batch = SpanBatch<Span, Extra>;
  static_assert(sizeof(Batch) + sizeof(Operation) <= 4096, "kernel parameters over 4 KiB");
  size_t next = 0;
  while (next < spans.size()) {
    Batch batch{};
    batch.count = 0;
    batch.firstBlock[0] = 0;
    for (; next < spans.size() && batch.count < Batch::kCapacity; ++next) {
      const size_t i = next;
      if (spans[i].size == 0) continue;
      const int n = batch.count++;
      batch.spans[n] = spans[i];
      batch.extras[n] = extras[i];
      batch.firstBlock[n + 1] =
          batch.firstBlock[n] + (spans[i].size + kElementsPerBlock - 1) / kElementsPerBlock;
    }
    const int64_t blocks = batch.firstBlock[batch.count];
    if (blocks == 0) continue;
    forEachElementKernel<<<static_cast<unsigned>(blocks), kThreadsPerBlock, 0,
                           static_cast<cudaStream_t>(stream)>>>(batch, operation);
    checkCuda(cudaGetLastError(), name);
  }
}

}  // namespace ringtrain::kernels
