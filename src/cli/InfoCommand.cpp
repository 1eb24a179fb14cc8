#include <torch/cuda.h>
#include <torch/version.h>

#include <cxxopts.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "GradientNorm.h"
#include "cli/Commands.h"
#include "comm/Session.h"
#include "flags/FlagValues.h"
#include "platform/CudaStack.h"
#include "platform/Placement.h"
#include "ringtrain/BuildInfo.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

int runInfo(int argc, char** argv) {
  cxxopts::Options options("ringtrain info",
                           "Print versions (ringtrain, LibTorch, MPI, NCCL, CUDA), the compiled-in "
                           "communication backends, and the GPUs and cores this process sees.");
  options.add_options()("json", "print one JSON object")("h,help", "show this help");
  const cxxopts::ParseResult result = flags::parseFlags(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help();
    return 0;
  }

  // The driver library is loaded by the probe, so the stack is read after it.
  const platform::CudaStack cuda = platform::cudaStack(platform::probeCuda());
  nlohmann::ordered_json backends = nlohmann::ordered_json::array({"mpi (cpu tensors)"});
  if (comm::ncclCompiledIn()) backends.push_back("nccl (cuda tensors)");
  nlohmann::ordered_json info{
      {"ringtrain", RINGTRAIN_VERSION},
      {"libtorch", TORCH_VERSION},
      {"mpi", comm::mpiLibraryVersion()},
      {"nccl", comm::ncclVersion()},
      {"cuda_toolkit", RINGTRAIN_CUDA_TOOLKIT_VERSION},
      {"backends", backends},
      {"cuda_kernels", kernels::cudaKernelsCompiledIn() ? "compiled in" : "not compiled in"},
      {"nvidia_driver", platform::describeCudaStack(cuda)},
      {"cuda_forward_compatibility", platform::forwardCompatibility(cuda)},
      {"gpus", platform::visibleGpuCount()},
      {"cpu_cores", std::thread::hardware_concurrency()}};
  // GPUs that are there but cannot be used (a driver too old for this CUDA, say).
  if (const auto problem = platform::unusableGpus()) info["gpu_problem"] = *problem;
  if (result.count("json")) {
    std::cout << info.dump(2) << std::endl;
    return 0;
  }
  for (const auto& [key, value] : info.items()) {
    std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
              << "\n";
  }
  return 0;
}

}  // namespace ringtrain::cli
