#include "platform/CudaStack.h"

#include <regex>
#include <sstream>

#include "util/Files.h"

namespace ringtrain::platform {
namespace {

const std::string kLibraryPrefix = "libcuda.so.";

}  // namespace

std::string kernelModuleVersion(const std::string& procText) {
  // NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024
  // (the open modules say "Open Kernel Module for x86_64").
  static const std::regex kLine(
      R"(NVRM version:.*Kernel Module.*?\s([0-9]+\.[0-9]+(\.[0-9]+)?)\s)");
  std::smatch match;
  return std::regex_search(procText, match, kLine) ? match[1].str() : "";
}

std::string mappedCudaDriverLibrary(const std::string& mapsText) {
  std::istringstream lines(mapsText);
  for (std::string line; std::getline(lines, line);) {
    const size_t path = line.find('/');
    if (path == std::string::npos) continue;
    const std::string file = line.substr(path);
    const size_t name = file.rfind('/') + 1;
    if (file.compare(name, kLibraryPrefix.size(), kLibraryPrefix) == 0) return file;
  }
  return "";
}

bool forwardCompatibility(const CudaStack& stack) {
  if (stack.kernelModule.empty() || stack.driverLibrary.empty()) return false;
  const std::string name = stack.driverLibrary.substr(stack.driverLibrary.rfind('/') + 1);
  const std::string version = name.substr(kLibraryPrefix.size());
  // libcuda.so.1 when the file was opened by its soname alone (no version to compare).
  return version.find('.') != std::string::npos && version != stack.kernelModule;
}

std::string describeCudaStack(const CudaStack& stack) {
  // Without /proc/driver/nvidia/version (WSL, say) the driver may still answer.
  if (stack.kernelModule.empty() && stack.driverVersion == 0) return "no NVIDIA driver";
  std::string text = "NVIDIA driver " +
                     (stack.kernelModule.empty() ? "(version not readable)" : stack.kernelModule);
  if (stack.driverVersion > 0) {
    text += ", CUDA " + cudaVersionText(stack.driverVersion) + " (runtime " +
            cudaVersionText(stack.runtimeVersion) + ")";
  }
  if (forwardCompatibility(stack)) {
    text += " through CUDA forward compatibility (" + stack.driverLibrary + ")";
  }
  return text;
}

CudaStack cudaStack(const CudaProbe& probe) {
  CudaStack stack;
  const std::string driverVersion = "/proc/driver/nvidia/version";  // absent without a driver
  stack.kernelModule =
      pathExists(driverVersion) ? kernelModuleVersion(readFile(driverVersion)) : std::string();
  stack.driverLibrary = mappedCudaDriverLibrary(readFile("/proc/self/maps"));
  stack.driverVersion = probe.driverVersion;
  stack.runtimeVersion = probe.runtimeVersion;
  return stack;
}

}  // namespace ringtrain::platform
