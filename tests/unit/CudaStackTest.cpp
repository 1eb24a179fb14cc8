// Which NVIDIA driver a process runs on and whether through CUDA forward compatibility
// (platform/CudaStack.h), read from the texts of /proc/driver/nvidia/version and /proc/self/maps
// as drivers and the loader write them.
#include <gtest/gtest.h>

#include "platform/CudaStack.h"

namespace ringtrain::platform {
namespace {

TEST(CudaStack, ReadsTheKernelModuleVersionOfTheProprietaryAndTheOpenModules) {
  EXPECT_EQ(
      kernelModuleVersion("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  "
                          "5 22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0\n"),
      "550.54.15");
  EXPECT_EQ(kernelModuleVersion("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  "
                                "580.95.05  Release Build  (dvs-builder@U16)  Tue Sep 30 2025\n"),
            "580.95.05");
  EXPECT_EQ(kernelModuleVersion(""), "");
  EXPECT_EQ(kernelModuleVersion("something else entirely\n"), "");
}

TEST(CudaStack, FindsTheDriverLibraryAmongTheMappedFiles) {
  const std::string maps =
      "7f0e1000-7f0e2000 r--p 00000000 08:01 1234  /usr/lib/x86_64-linux-gnu/libc.so.6\n"
      "7f0e3000-7f0e4000 r-xp 00000000 00:00 0 \n"
      "7f0e5000-7f0e6000 r--p 00000000 08:01 99  /usr/local/cuda/compat/libcuda.so.580.95.05\n"
      "7f0e7000-7f0e8000 r--p 00000000 08:01 98  /opt/lib/libcudart.so.13\n";
  EXPECT_EQ(mappedCudaDriverLibrary(maps), "/usr/local/cuda/compat/libcuda.so.580.95.05");
  EXPECT_EQ(mappedCudaDriverLibrary("7f0e7000-7f0e8000 r--p 0 08:01 98  /opt/libcudart.so.13\n"),
            "");
}

TEST(CudaStack, ForwardCompatibilityIsADriverLibraryNewerThanTheKernelModule) {
  CudaStack stack{"550.54.15", "/usr/local/cuda/compat/libcuda.so.580.95.05", 13000, 13000};
  EXPECT_TRUE(forwardCompatibility(stack));
  EXPECT_EQ(describeCudaStack(stack),
            "NVIDIA driver 550.54.15, CUDA 13.0 (runtime 13.0) through CUDA forward "
            "compatibility (/usr/local/cuda/compat/libcuda.so.580.95.05)");

  stack.driverLibrary = "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15";
  EXPECT_FALSE(forwardCompatibility(stack));
  stack.driverVersion = 12040;
  EXPECT_EQ(describeCudaStack(stack), "NVIDIA driver 550.54.15, CUDA 12.4 (runtime 13.0)");

  stack.driverLibrary = "/usr/lib64/libcuda.so.1";  // no version in the name: nothing to compare
  EXPECT_FALSE(forwardCompatibility(stack));
  EXPECT_EQ(describeCudaStack(CudaStack{}), "no NVIDIA driver");
  // No /proc/driver/nvidia/version (WSL, say), but a driver that answers.
  EXPECT_EQ(describeCudaStack(CudaStack{"", "", 13000, 13000}),
            "NVIDIA driver (version not readable), CUDA 13.0 (runtime 13.0)");
}

}  // namespace
}  // namespace ringtrain::platform
