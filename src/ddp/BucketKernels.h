// The reducer's element work on buckets, through kernels/ on float32 tensors (host references on
// CPU, CUDA launchers on the tensors' stream on GPU) and through LibTorch for any other dtype.
#pragma once

#include <ATen/core/Tensor.h>

#include "ddp/Reducer.h"

namespace ringtrain::ddp {

// slot = gradient * scale; `gradient` may be `slot` itself.
void packGradient(const at::Tensor& gradient, at::Tensor& slot, float scale);
// values * scale in the wire format of `compression` (fp16 or bf16).
at::Tensor narrowForWire(const at::Tensor& values, float scale, GradCompression compression);
// values = wire, widened.
void widenFromWire(const at::Tensor& wire, at::Tensor& values);

}  // namespace ringtrain::ddp
