"""ringtrain as a library: `cmake --install` gives a package that an outside project (examples/)
finds with find_package(ringtrain), builds against and runs at 2 ranks."""
import json
import os
import re
import shutil
import subprocess
import unittest

from ringtrain_testing import BIN, MPIRUN, RingtrainTestCase

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.abspath(BIN))
# Inside the build tree and always the same, so that rebuilding the examples is incremental.
WORK = os.path.join(BUILD, "installed-package-test")


def check(args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def mpirun(ranks, program, *args):
    return check([MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", ranks, program, *args],
                 timeout=300)


class InstalledPackage(RingtrainTestCase):
    @classmethod
    def setUpClass(cls):
        prefix = os.path.join(WORK, "prefix")
        shutil.rmtree(prefix, ignore_errors=True)
        check(["cmake", "--install", BUILD, "--prefix", prefix])
        configure = ["cmake", "-S", os.path.join(SOURCE, "examples"), "-B", os.path.join(WORK, "build"),
                     "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=Release"]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        if shutil.which("ccache"):
            configure += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
        check(configure, timeout=600)
        check(["cmake", "--build", os.path.join(WORK, "build")], timeout=1200)
        cls.prefix = prefix

    def program(self, name):
        return os.path.join(WORK, "build", name)

    def test_the_package_holds_headers_library_and_config(self):
        for part in ("include/ringtrain/ringtrain.h", "include/ringtrain/BuildInfo.h",
                     "lib/cmake/ringtrain/ringtrainConfig.cmake", "bin/ringtrain"):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, part)), part)
        self.assertTrue([f for f in os.listdir(os.path.join(self.prefix, "lib")) if f.startswith("libringtrain")])
        # The public headers name no MPI or CUDA type: a program needs neither to build.
        for root, _, files in os.walk(os.path.join(self.prefix, "include", "ringtrain")):
            for name in files:
                with open(os.path.join(root, name)) as f:
                    text = f.read()
                self.assertNotRegex(text, r"#include\s*[<\"](mpi|nccl|cuda_runtime)\.h", name)
                self.assertNotRegex(text, r"\b(MPI_Comm|ncclComm_t|cudaStream_t)\b(?!\))", name)
        version = check([os.path.join(self.prefix, "bin", "ringtrain"), "--version"])
        self.assertIn("ringtrain", version.stdout)

    def test_own_loop_trains_at_two_ranks_and_resumes(self):
        checkpoints = self.path("checkpoints")
        first = mpirun(2, self.program("custom_loop"), "--epochs", "2", "--checkpoints", checkpoints).stdout
        accuracies = [float(v) for v in re.findall(r"val_accuracy=([0-9.]+)", first)]
        self.assertEqual(len(accuracies), 2, first)
        self.assertGreater(accuracies[-1], 0.6)
        self.assertEqual(sorted(os.listdir(checkpoints)), ["step-000000001", "step-000000002"])
        again = mpirun(2, self.program("custom_loop"), "--epochs", "3", "--checkpoints", checkpoints).stdout
        self.assertIn("resumed from " + os.path.join(checkpoints, "step-000000002"), again)
        self.assertEqual(re.findall(r"^epoch (\d+)", again, re.M), ["3"])

    def test_hooks_bring_their_model_loss_and_metric_into_the_trainer(self):
        out = self.path("custom")
        printed = mpirun(2, self.program("custom_trainer"), "--train", "synthetic:3000", "--epochs", "2",
                         "--output-dir", out, "--progress", "off", "--threads", "1").stdout
        self.assertIn("custom_trainer: steps=", printed)
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual((summary["world_size"], summary["model"]), (2, "custom"))
        self.assertGreaterEqual(summary["val_metrics"]["top2_accuracy"], summary["val_accuracy"])
        self.assertGreater(summary["val_accuracy"], 0.5)
        self.assertEqual(sorted(self.model(out)), ["deep.bias", "deep.weight", "head.bias", "head.weight"])
        # Pipeline mode cuts the same model at its layers.
        piped = self.path("custom-pp")
        mpirun(2, self.program("custom_trainer"), "--train", "synthetic:3000", "--epochs", "1",
               "--output-dir", piped, "--progress", "off", "--pipeline-stages", "2")
        with open(os.path.join(piped, "summary.json")) as f:
            self.assertEqual(json.load(f)["pipeline"]["layers_per_stage"], [1, 1])


if __name__ == "__main__":
    unittest.main()
