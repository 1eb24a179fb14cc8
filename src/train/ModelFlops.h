// Model FLOPs utilisation: the FLOPs a step's arithmetic takes by the usual count, over what the
// device could do at its peak. By the count of the scaling-law papers, training takes 6 FLOPs per
// parameter and token (2 forward, 4 backward), and a transformer's attention 12 x layers x width x
// context more per token (PaLM, appendix B). Peaks are the datasheets' dense figures of common
// GPUs, for float32 without tensor cores (LibTorch's default for matrix products) and for bf16 and
// fp16 with them; elsewhere (CPUs, other GPUs) there is none and no utilisation is reported.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ringtrain/models/Model.h"
#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

// FLOPs to train on one sample of `tokensPerSample` tokens (1 for data that is not tokens) with a
// model of `parameters` parameters; `gpt` for a transformer's attention.
double trainingFlopsPerSample(int64_t parameters, int64_t tokensPerSample,
                              const models::GptShape* gpt = nullptr);

// The peak FLOP/s of the GPU that CUDA names `deviceName` ("NVIDIA H100 80GB HBM3") at
// `precision`, or nothing when the table does not know it.
std::optional<double> peakFlopsPerSecond(const std::string& deviceName, Precision precision);

}  // namespace ringtrain::train
