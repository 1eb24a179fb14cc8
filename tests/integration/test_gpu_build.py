"""The CUDA build: the GPU architectures compiled into the binaries are the configured list (the
wheel's by default, or the user's -DCMAKE_CUDA_ARCHITECTURES, which LibTorch's CMake would otherwise
replace), and NCCL is found from the torch wheel alone. Read back from the binaries with NVIDIA's
cuobjdump (installed by scripts/setup.sh). Needs the CUDA toolkit, not a GPU."""
import glob
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import hidden_files
from ringtrain_testing import BIN

SOURCE = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.realpath(BIN))
NVCC = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)


def cuobjdump():
    try:
        files = importlib.metadata.files("nvidia-cuda-cuobjdump") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [f.locate() for f in files if str(f).endswith("bin/cuobjdump")]
    return str(found[0]) if found else None


def compiled_architectures(binary):
    """({sm numbers of the GPU code}, {sm numbers of the PTX}) in `binary`."""
    tool = cuobjdump()
    code = subprocess.run([tool, "--list-elf", binary], capture_output=True, text=True, check=True).stdout
    ptx = subprocess.run([tool, "--list-ptx", binary], capture_output=True, text=True, check=True).stdout
    return ({int(n) for n in re.findall(r"\.sm_(\d+)\.cubin", code)},
            {int(n) for n in re.findall(r"\.sm_(\d+)\.ptx", ptx)})


def expected_architectures(cmake_list):
    """What CMake's CUDA_ARCHITECTURES syntax asks for: 90-real is GPU code, 90-virtual PTX, 90 both."""
    code, ptx = set(), set()
    for entry in cmake_list.split(";"):
        number, _, kind = entry.partition("-")
        if kind in ("", "real"):
            code.add(int(number))
        if kind in ("", "virtual"):
            ptx.add(int(number))
    return code, ptx


def cache_value(build, name):
    with open(os.path.join(build, "CMakeCache.txt")) as cache:
        for line in cache:
            if line.startswith(name + ":"):
                return line.rstrip("\n").split("=", 1)[1]
    return None


def cuda_build_skip_reason():
    if NVCC is None:
        return "needs the CUDA toolkit"
    if cuobjdump() is None:
        return "needs cuobjdump (pip install nvidia-cuda-cuobjdump; scripts/setup.sh does)"
    if cache_value(BUILD, "RINGTRAIN_WITH_CUDA") == "OFF" or not cache_value(BUILD, "CMAKE_CUDA_COMPILER"):
        return "this build has no CUDA"
    return None


CUDA_BUILD_SKIP_REASON = cuda_build_skip_reason()
HIDING_UNAVAILABLE = hidden_files.unavailable()  # probes with a mount namespace: once


@unittest.skipIf(CUDA_BUILD_SKIP_REASON, CUDA_BUILD_SKIP_REASON)
class GpuBuildTest(unittest.TestCase):
    def test_the_binaries_hold_code_for_the_configured_architectures(self):
        configured = cache_value(BUILD, "CMAKE_CUDA_ARCHITECTURES")
        code, ptx = expected_architectures(configured)
        for binary in (BIN, os.path.join(BUILD, "libringtrain.so")):
            with self.subTest(binary=binary):
                self.assertEqual(compiled_architectures(binary), (code, ptx), f"configured: {configured}")

    def test_the_default_covers_the_wheels_gpus_with_ptx_for_the_newest(self):
        # The architectures the pinned torch wheel has code for; a build that left one out fails on
        # that GPU at its first kernel.
        wheel = subprocess.run([sys.executable, "-c", "import torch; print(torch._C._cuda_getArchFlags())"],
                               capture_output=True, text=True, check=True).stdout.split()
        with open(os.path.join(SOURCE, "cmake", "Dependencies.cmake")) as f:
            default = re.search(r'set\(RINGTRAIN_DEFAULT_CUDA_ARCHITECTURES "([^"]+)"\)', f.read()).group(1)
        code, ptx = expected_architectures(default)
        self.assertEqual(code, {int(a.removeprefix("sm_")) for a in wheel if a.startswith("sm_")})
        self.assertEqual(ptx, {max(code)})

    @unittest.skipIf(HIDING_UNAVAILABLE, HIDING_UNAVAILABLE)
    def test_a_users_list_is_kept_and_nccl_comes_from_the_wheel_alone(self):
        cuda = os.path.realpath(os.path.dirname(os.path.dirname(os.path.realpath(NVCC))))
        system_nccl = (glob.glob(os.path.join(cuda, "include", "nccl*")) + glob.glob(os.path.join(cuda, "lib*", "libnccl*")) +
                       glob.glob("/usr/include/nccl*") + glob.glob("/usr/lib/x86_64-linux-gnu/libnccl*"))
        with tempfile.TemporaryDirectory(prefix="ringtrain-cuda-configure-") as scratch:
            build = os.path.join(scratch, "build")
            configure = ["cmake", "-S", SOURCE, "-B", build, "-G", "Ninja", "-DRINGTRAIN_CUDA=ON",
                         "-DRINGTRAIN_BUILD_TESTS=OFF", f"-DRINGTRAIN_PYTHON={sys.executable}",
                         f"-DCMAKE_CUDA_COMPILER={NVCC}", "-DCMAKE_CUDA_ARCHITECTURES=86-real"]
            kernel = "kernels/CMakeFiles/ringtrain_kernels.dir/GradientNormCuda.cu.o"
            steps = configure + ["&&", "cmake", "--build", build, "--target", kernel]
            overlays = os.path.join(scratch, "overlays")
            os.mkdir(overlays)
            argv = hidden_files.command_without(system_nccl, ["bash", "-c", " ".join(steps), "build"], overlays)
            env = {k: v for k, v in os.environ.items() if k not in ("NCCL_HOME", "CUDAARCHS")}
            result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=540)
            self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr[-4000:])
            # LibTorch's CMake would warn that it ignores the list, which it no longer does.
            self.assertNotIn("CMAKE_CUDA_ARCHITECTURES", result.stderr)

            wheel_nccl = os.path.join(os.path.dirname(os.path.dirname(importlib.util.find_spec("torch").origin)),
                                      "nvidia", "nccl")
            names = ("RINGTRAIN_NCCL_LIBRARY", "RINGTRAIN_NCCL_INCLUDE_DIR")
            found = {name: os.path.realpath(cache_value(build, name)) for name in names}
            self.assertEqual(found, dict(zip(names, (os.path.realpath(os.path.join(wheel_nccl, "lib", "libnccl.so.2")),
                                                     os.path.realpath(os.path.join(wheel_nccl, "include"))))))
            self.assertEqual(cache_value(build, "CMAKE_CUDA_ARCHITECTURES"), "86-real")
            self.assertEqual(compiled_architectures(os.path.join(build, kernel)), ({86}, set()))
        # Outside the namespace the system's NCCL is still there: the test hid it, nothing else did.
        self.assertTrue(all(os.path.lexists(p) for p in system_nccl))


if __name__ == "__main__":
    unittest.main()
