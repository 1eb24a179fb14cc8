"""The image's runtime files, installed here by the Dockerfile's own step (docker/install-runtime.sh)
from this machine's torch wheel and build, into a directory laid out as the image is: the installed
ringtrain finds LibTorch, CUDA and NCCL by its relative run path alone, they are the wheel's (one
NCCL, one CUDA runtime), the libraries others open by name are where the loader's cache looks, and
nothing the image needs is left out."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.environ.get("RINGTRAIN_BIN", os.path.join(ROOT, "build", "ringtrain")))
PYTHON = os.environ.get("RINGTRAIN_PYTHON", sys.executable)
PREFIX = "/usr/local/lib/ringtrain"
# What the base image brings (glibc, GCC's runtime, zlib) and the Ubuntu packages the Dockerfile
# installs (Open MPI and its own libraries, SentencePiece, libgomp).
FROM_THE_IMAGE = re.compile(r"^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|librt|libpthread|libutil|libgcc_s|"
                            r"libstdc\+\+|libz|libgomp|libsentencepiece(_train)?|libmpi|libopen-(pal|rte)|"
                            r"libhwloc|libevent_(core|pthreads)-2\.1|libudev|libpmix)\.so")
# Loaded only when asked for: the NVIDIA driver (from the host), and what NVSHMEM's bootstrap and
# transport plugins need for networks and launchers ringtrain does not ask NVSHMEM to use.
ON_REQUEST = re.compile(r"^(libcuda|libnvidia-ml|libucs|libucp|libmlx5|libibverbs|librdmacm|libfabric|"
                        r"liboshmem)\.so")


def site_packages():
    return subprocess.run([PYTHON, "-c", "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def ldd(path):
    """{soname: resolved path or None}, as the loader sees it with no library path at all."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}).stdout
    return {m.group(1): (None if m.group(2) == "not found" else os.path.normpath(m.group(2)))
            for m in re.finditer(r"^\s*(\S+) => (not found|\S+)", out, re.M)}


def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", out)


@unittest.skipUnless(shutil.which("patchelf"), "needs patchelf (scripts/setup.sh installs it)")
class ContainerRuntimeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.site = site_packages()
        if not glob.glob(os.path.join(cls.site, "nvidia", "*", "lib", "libcudart.so.*")):
            raise unittest.SkipTest("the torch here is not a CUDA wheel")
        cls.scratch = tempfile.mkdtemp(prefix="ringtrain-image-")
        cls.dest = os.path.join(cls.scratch, "root")
        # Hard links: the same files as copies, without 3 GB of writes (the image copies).
        cls.install = subprocess.run(["sh", os.path.join(ROOT, "docker", "install-runtime.sh"), cls.site, BUILD,
                                      cls.dest, "--link"], capture_output=True, text=True)
        cls.binary = os.path.join(cls.dest, "usr", "local", "bin", "ringtrain")
        cls.lib = cls.dest + PREFIX

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def setUp(self):
        self.assertEqual(self.install.returncode, 0, self.install.stdout + self.install.stderr)

    def test_ringtrain_loads_the_wheels_libraries_by_its_run_path_alone(self):
        found = ldd(self.binary)
        self.assertFalse([name for name, path in found.items() if path is None], found)
        for name in ("libnccl.so.2", "libtorch_cuda.so", "libcudart.so.13", "libcudnn.so.9", "libcublas.so.13"):
            self.assertIn(name, found)
            self.assertTrue(found[name].startswith(self.lib + "/"), f"{name} from {found[name]}")
        # One NCCL, one CUDA runtime: ringtrain's and LibTorch's are the same files, the wheel's.
        torch_cuda = ldd(os.path.join(self.lib, "torch", "lib", "libtorch_cuda.so"))
        for name in ("libnccl.so.2", "libcudart.so.13"):
            self.assertEqual(os.path.realpath(torch_cuda[name]), os.path.realpath(found[name]), name)
            self.assertTrue(os.path.samefile(found[name], glob.glob(os.path.join(self.site, "nvidia", "*", "lib", name))[0]))
        runpath = subprocess.run(["readelf", "-d", self.binary], capture_output=True, text=True).stdout
        self.assertNotIn(self.site, runpath, "a run path into the build machine's wheel")
        self.assertNotIn(BUILD, runpath)

    def test_the_installed_ringtrain_runs_and_reports_the_wheels_nccl(self):
        info = subprocess.run([self.binary, "info"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                              timeout=120)
        self.assertEqual(info.returncode, 0, info.stderr)
        wheel_nccl = subprocess.run([PYTHON, "-c", "import torch; print('.'.join(map(str, torch.cuda.nccl.version())))"],
                                    capture_output=True, text=True, check=True).stdout.strip()
        self.assertRegex(info.stdout, rf"(?m)^nccl: {re.escape(wheel_nccl)}$")
        self.assertRegex(info.stdout, r"(?m)^nvidia_driver: ")
        self.assertRegex(info.stdout, r"(?m)^cuda_forward_compatibility: (true|false)$")

    def test_every_library_finds_what_it_needs_in_the_image(self):
        installed = {os.path.basename(p) for p in glob.glob(os.path.join(self.lib, "**", "*.so*"), recursive=True)}
        missing = {}
        for path in sorted(glob.glob(os.path.join(self.lib, "**", "*.so*"), recursive=True)):
            if os.path.islink(path):
                continue
            for name in needed(path):
                if name not in installed and not FROM_THE_IMAGE.match(name) and not ON_REQUEST.match(name):
                    missing.setdefault(os.path.relpath(path, self.lib), []).append(name)
        self.assertEqual(missing, {}, "libraries the image would not have")

    def test_what_is_kept_and_what_is_left_out(self):
        names = {os.path.relpath(p, self.lib) for p in glob.glob(os.path.join(self.lib, "**", "*"), recursive=True)
                 if not os.path.isdir(p)}
        plugins = [n for n in names if re.search(r"nvidia/nvshmem/lib/nvshmem_(bootstrap|transport)_\w+\.so", n)]
        self.assertTrue(plugins, "NVSHMEM's plugins, which it opens by name")
        for kept in ("torch/lib/libtorch_cuda_linalg.so", "torch/lib/libcaffe2_nvrtc.so"):  # opened by name
            self.assertIn(kept, names)
        for left_out in ("torch/lib/libtorch_python.so", "torch/lib/libshm.so"):
            self.assertNotIn(left_out, names)
        self.assertFalse([n for n in names if n.endswith((".a", ".bc", ".py", ".h"))])
        self.assertNotIn("libmpi_cxx.so.40", needed(os.path.join(BUILD, "ringtrain")), "the C++ bindings are unused")

    def test_libcudart_so_is_found_by_name_through_the_loaders_cache_and_nothing_else_is(self):
        """The AWS OFI NCCL plugin opens `libcudart.so`; the image's ldconfig reads ringtrain.conf."""
        with open(os.path.join(self.dest, "etc", "ld.so.conf.d", "ringtrain.conf")) as f:
            directories = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        self.assertEqual(directories, [PREFIX + "/by-name"])
        # The cache ldconfig builds from that configuration, as the image's build runs it (-X: no
        # links made; a private cache file).
        conf, cache = os.path.join(self.scratch, "ld.so.conf"), os.path.join(self.scratch, "ld.so.cache")
        with open(conf, "w") as f:
            f.write("".join(self.dest + d + "\n" for d in directories))
        subprocess.run(["ldconfig", "-X", "-f", conf, "-C", cache], check=True)
        listed = subprocess.run(["ldconfig", "-p", "-C", cache], capture_output=True, text=True, check=True).stdout
        served = re.findall(r"^\s*(\S+) \(.*\) => (" + re.escape(self.dest) + r"\S+)$", listed, re.M)
        self.assertIn("libcudart.so", [name for name, _ in served], listed)
        for name, path in served:
            # What the cache serves from the image's directories: the wheel's CUDA runtime, nothing else
            # (no wheel library shadows the system's for every program in the image).
            self.assertTrue(name.startswith("libcudart.so"), name)
            self.assertTrue(os.path.samefile(path, glob.glob(os.path.join(self.site, "nvidia", "*", "lib",
                                                                          "libcudart.so.*[0-9]"))[0]), path)

if __name__ == "__main__":
    unittest.main()
