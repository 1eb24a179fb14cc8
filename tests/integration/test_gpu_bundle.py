"""The GPU bundle (scripts/gpu-bundle.sh) run as on a bare GPU box: unpacked into an empty
directory by scripts/gpu-smoke.sh --bundle, where this machine's Open MPI, PMIx, SentencePiece and
the build directory cannot be seen (a private mount namespace hides them), with no GPU. The version
and loader checks and a two-rank CPU training through the bundled Open MPI (single-copy transfers
off) must pass, and the run must stop at the first GPU check, exit 1 and say why."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import hidden_files
from ringtrain_testing import BIN
from test_gpu_build import CUDA_BUILD_SKIP_REASON, HIDING_UNAVAILABLE

SOURCE = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.realpath(BIN))
LIMIT_BYTES = 60 * 1024 * 1024


def skip_reason():
    if CUDA_BUILD_SKIP_REASON:
        return CUDA_BUILD_SKIP_REASON
    if not shutil.which("patchelf"):
        return "needs patchelf (scripts/setup.sh installs it)"
    return HIDING_UNAVAILABLE


def system_open_mpi():
    """Everything of this machine's Open MPI, PMIx and the other libraries the bundle carries."""
    lib = "/usr/lib/x86_64-linux-gnu"
    paths = [os.path.join(lib, "openmpi"), os.path.join(lib, "pmix2"), "/etc/openmpi", "/usr/share/openmpi"]
    for pattern in ("libmpi*", "libopen-pal*", "libopen-rte*", "libmca_common*", "libpmix*", "libhwloc*",
                    "libevent*", "libsentencepiece*", "libmunge*"):
        paths += glob.glob(os.path.join(lib, pattern))
    for tool in ("mpirun", "mpiexec", "orterun", "orted", "ompi_info", "prte", "prterun"):
        paths += glob.glob(os.path.join("/usr/bin", tool))
    return [p for p in paths if os.path.lexists(p)]


SKIP_REASON = skip_reason()


@unittest.skipIf(SKIP_REASON, SKIP_REASON)
class GpuBundleTest(unittest.TestCase):
    def test_the_bundle_runs_where_nothing_of_the_build_machine_is_seen_and_stops_at_the_gpu(self):
        with tempfile.TemporaryDirectory(prefix="ringtrain-gpu-bundle-test-") as scratch:
            archive = os.path.join(scratch, "ringtrain-gpu-bundle.tar.gz")
            env = dict(os.environ, BUILD_DIR=BUILD, RINGTRAIN_BUNDLE_NO_BUILD="1", RINGTRAIN_PYTHON=sys.executable)
            made = subprocess.run(["bash", os.path.join(SOURCE, "scripts", "gpu-bundle.sh"), archive],
                                  capture_output=True, text=True, env=env, timeout=300)
            self.assertEqual(made.returncode, 0, made.stdout + made.stderr)
            size = os.path.getsize(archive)
            self.assertLessEqual(size, LIMIT_BYTES, f"the bundle is {size / 2**20:.1f} MiB")

            hidden = system_open_mpi() + [BUILD]
            self.assertTrue(any("libmpi" in p for p in hidden), "found no system Open MPI to hide")
            # The box's libstdc++ where it is new enough (here it is), and the bundle's as on a box
            # where it is not.
            for libstdcxx in ("auto", "bundle"):
                with self.subTest(libstdcxx=libstdcxx):
                    self.smoke_stops_at_the_gpu(archive, hidden, os.path.join(scratch, libstdcxx), libstdcxx)
        # The system's files were only hidden from the smoke test.
        self.assertTrue(all(os.path.lexists(p) for p in system_open_mpi()))

    def smoke_stops_at_the_gpu(self, archive, hidden, scratch, libstdcxx):
        work = os.path.join(scratch, "box")  # new and empty: the smoke test unpacks into it
        overlays = os.path.join(scratch, "overlays")
        os.makedirs(overlays)
        # Inside: nothing of the above exists, and no GPU is visible even on a machine with one.
        proof = " && ".join(f"test ! -e {p}" for p in hidden)
        smoke = f"{proof} && exec bash {os.path.join(SOURCE, 'scripts', 'gpu-smoke.sh')} --bundle {archive} --work {work}"
        argv = hidden_files.command_without(hidden, ["bash", "-c", smoke], overlays)
        smoke_env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "OPAL_", "PMIX_"))}
        smoke_env.update(CUDA_VISIBLE_DEVICES="", RINGTRAIN_PYTHON=sys.executable,
                         RINGTRAIN_BUNDLE_LIBSTDCXX=libstdcxx)
        result = subprocess.run(argv, capture_output=True, text=True, env=smoke_env, timeout=480)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 1, output)
        verdict = [line for line in result.stdout.splitlines() if line.startswith("gpu-smoke:")]
        self.assertEqual(len(verdict), 1, output)
        self.assertRegex(verdict[0], r"^gpu-smoke: FAIL at gpu_visible: no GPU is visible", output)

        with open(os.path.join(work, "gpu-smoke-report.json")) as f:
            report = json.load(f)
        status = {c["name"]: c["status"] for c in report["checks"]}
        for name in ("unpack", "versions", "loader", "cpu_training_through_bundled_mpi"):
            self.assertEqual(status.get(name), "passed", json.dumps(report, indent=1))
        self.assertEqual(status["gpu_visible"], "failed")
        after = [c for c in report["checks"] if c["name"] not in
                 ("unpack", "versions", "loader", "cpu_training_through_bundled_mpi", "gpu_visible")]
        self.assertTrue(after)
        self.assertEqual({c["status"] for c in after}, {"not checked"}, "nothing after the GPU check passed")
        self.assertEqual(report["verdict"], "FAIL")
        loader = next(c for c in report["checks"] if c["name"] == "loader")
        self.assertIn("single-copy transfers: none", loader["detail"])
        manifest = report["facts"]["bundle"]
        self.assertEqual(manifest["torch"], report["facts"]["target"]["torch"])
        self.assertEqual(report["facts"]["target"]["bundled_libstdcxx"], libstdcxx == "bundle")


if __name__ == "__main__":
    unittest.main()
