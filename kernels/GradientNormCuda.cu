// One thread block per kNormBlock elements of any span: the block sums its squares in float32 and
// adds that to the result in float64, as the host reference does block by block.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "GradientNorm.h"

namespace ringtrain::kernels {
namespace {

// Spans travel in the kernel's parameters (at most 4 KiB), a chunk of them per launch.
constexpr int kSpansPerLaunch = 96;
constexpr int kThreads = kNormBlock;

struct SpanChunk {
  const float* data[kSpansPerLaunch];
  int64_t size[kSpansPerLaunch];
  int64_t firstBlock[kSpansPerLaunch + 1];  // prefix sums of each span's blocks
  int count;
};

__global__ void sumOfSquaresKernel(SpanChunk chunk, double* result) {
  __shared__ float partial[kThreads];
  const int64_t block = blockIdx.x;
  int span = 0;
  while (block >= chunk.firstBlock[span + 1]) ++span;
  const int64_t index = (block - chunk.firstBlock[span]) * kNormBlock + threadIdx.x;
  const float value = index < chunk.size[span] ? chunk.data[span][index] : 0.0f;
  partial[threadIdx.x] = value * value;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(result, static_cast<double>(partial[0]));
}

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

}  // namespace

void sumOfSquaresCuda(const std::vector<FloatSpan>& spans, double* result, void* stream) {
  const auto cudaStream = static_cast<cudaStream_t>(stream);
  check(cudaMemsetAsync(result, 0, sizeof(double), cudaStream), "cudaMemsetAsync");
  for (size_t first = 0; first < spans.size(); first += kSpansPerLaunch) {
    SpanChunk chunk{};
    chunk.count = 0;
    chunk.firstBlock[0] = 0;
    for (size_t i = first; i < spans.size() && chunk.count < kSpansPerLaunch; ++i) {
      const int n = chunk.count++;
      chunk.data[n] = spans[i].data;
      chunk.size[n] = spans[i].size;
      chunk.firstBlock[n + 1] = chunk.firstBlock[n] + (spans[i].size + kNormBlock - 1) / kNormBlock;
    }
    const int64_t blocks = chunk.firstBlock[chunk.count];
    if (blocks == 0) continue;
    sumOfSquaresKernel<<<static_cast<unsigned>(blocks), kThreads, 0, cudaStream>>>(chunk, result);
    check(cudaGetLastError(), "sumOfSquaresKernel launch");
  }
}

bool cudaKernelsCompiledIn() {
  return true;
}

}  // namespace ringtrain::kernels
