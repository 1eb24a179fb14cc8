#include "train/ModelFlops.h"

#include <array>

namespace ringtrain::train {
namespace {

struct Peak {
  const char* name;  // words of the device's name; the first entry that matches counts
  double float32;    // TFLOP/s, dense
  double bf16;       // 0: no bf16 tensor cores
  double fp16;
};

// From NVIDIA's datasheets. More specific names come first: "H100 PCIe" before "H100".
constexpr std::array<Peak, 9> kPeaks{{
    {"H100 PCIe", 51.2, 756, 756},
    {"H100 NVL", 60, 835, 835},
    {"H100", 67, 989, 989},  // SXM5 ("H100 80GB HBM3")
    {"H200", 67, 989, 989},
    {"GH200", 67, 989, 989},
    {"A100", 19.5, 312, 312},
    {"L40S", 91.6, 362, 362},
    {"L4", 30.3, 121, 121},
    {"V100", 15.7, 0, 125},
}};

// `words` stand in `name` as whole words ("L4" in "NVIDIA L4", not in "NVIDIA L40"; "A100" in
// "NVIDIA A100-SXM4-80GB").
bool named(const std::string& name, const std::string& words) {
  for (size_t at = name.find(words); at != std::string::npos; at = name.find(words, at + 1)) {
    const size_t end = at + words.size();
    const bool starts = at == 0 || name[at - 1] == ' ';
    const bool ends = end == name.size() || name[end] == ' ' || name[end] == '-';
    if (starts && ends) return true;
  }
  return false;
}

}  // namespace

double trainingFlopsPerSample(int64_t parameters, int64_t tokensPerSample,
                              const models::GptShape* gpt) {
  const double tokens = static_cast<double>(tokensPerSample > 0 ? tokensPerSample : 1);
  double perToken = 6.0 * static_cast<double>(parameters);
  if (gpt) {
    perToken += 12.0 * static_cast<double>(gpt->layers) * static_cast<double>(gpt->width) * tokens;
  }
  return perToken * tokens;
}

std::optional<double> peakFlopsPerSecond(const std::string& deviceName, Precision precision) {
  for (const Peak& peak : kPeaks) {
    if (!named(deviceName, peak.name)) continue;
    const double tflops = precision == Precision::kBf16   ? peak.bf16
                          : precision == Precision::kFp16 ? peak.fp16
                                                          : peak.float32;
    if (tflops <= 0) return std::nullopt;
    return tflops * 1e12;
  }
  return std::nullopt;
}

}  // namespace ringtrain::train
