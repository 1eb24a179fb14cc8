"""ringtrain as a library: `cmake --install` gives a package that an outside project (examples/)
finds with find_package(ringtrain), builds against and runs at 2 ranks."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from ringtrain_testing import BIN, MPIRUN, RingtrainTestCase, rank_pids

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.abspath(BIN))
# Inside the build tree and always the same, so that rebuilding the examples is incremental.
WORK = os.path.join(BUILD, "installed-package-test")
# The public API: what a program built on the library includes. A change to this list is a
# decision about the API, not a side effect of moving code.
PUBLIC_HEADERS = sorted([
    "ringtrain/ringtrain.h", "ringtrain/Export.h", "ringtrain/Runtime.h", "ringtrain/DataParallel.h",
    "ringtrain/Checkpoints.h", "ringtrain/train/Trainer.h", "ringtrain/train/TrainConfig.h",
    "ringtrain/comm/Communicator.h", "ringtrain/comm/Agreement.h", "ringtrain/data/Dataset.h",
    "ringtrain/data/DistributedSampler.h", "ringtrain/models/Model.h", "ringtrain/util/Error.h",
    "ringtrain/ddp/ReducerOptions.h", "ringtrain/pipeline/PipelineOptions.h",
])
COMM_TIMEOUT = 5
# Tens of thousands of steps: far longer than any test waits.
ENDLESS = ["--train", "synthetic:200000:64:4", "--val", "synthetic:100:64:4", "--batch-size", "8",
           "--epochs", "50", "--log-every", "20", "--threads", "1", "--progress", "off"]


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
        for part in ("include/ringtrain/ringtrain.h", "lib/cmake/ringtrain/ringtrainConfig.cmake",
                     "bin/ringtrain"):
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

    def test_only_the_public_api_is_installed_and_exported(self):
        include = os.path.join(self.prefix, "include")
        installed = sorted(os.path.relpath(os.path.join(root, name), include)
                           for root, _, files in os.walk(include) for name in files)
        self.assertEqual(installed, PUBLIC_HEADERS)
        folders = sorted(os.path.relpath(root, include) for root, _, _ in os.walk(include))
        self.assertEqual(folders, sorted({"."} | {os.path.dirname(h) for h in PUBLIC_HEADERS}))
        library = os.path.join(self.prefix, "lib", "libringtrain.so")
        exported = check(["nm", "-D", "--defined-only", "-C", library]).stdout
        symbols = [line.split(" ", 2)[2] for line in exported.splitlines() if "ringtrain::" in line]
        # Functions and classes by name: "ringtrain::data::loadDataset(...)" -> its qualified name.
        names = {re.sub(r"^(typeinfo name for|typeinfo for|vtable for) ", "", s).split("(")[0].split("[")[0]
                 for s in symbols if not s.startswith("std::")}
        # Everything exported is declared in a public header ...
        public = ("ringtrain::Runtime::", "ringtrain::DataParallel::", "ringtrain::saveCheckpoint",
                  "ringtrain::restoreLatestCheckpoint", "ringtrain::UserError", "ringtrain::InternalError",
                  "ringtrain::detail::throwInternal", "ringtrain::comm::Communicator",
                  "ringtrain::comm::PendingTransfer", "ringtrain::comm::CollectiveFailure",
                  "ringtrain::comm::runOnAllRanks", "ringtrain::comm::broadcastString",
                  "ringtrain::comm::sendString", "ringtrain::comm::receiveString",
                  "ringtrain::data::Dataset::", "ringtrain::data::loadDataset",
                  "ringtrain::data::validationSplit", "ringtrain::data::splitOffValidation",
                  "ringtrain::data::standardize", "ringtrain::data::applyStandardization",
                  "ringtrain::data::isConstantFeature", "ringtrain::data::featureStatistics",
                  "ringtrain::data::samplesPerRank", "ringtrain::data::shardIndices",
                  "ringtrain::data::evaluationIndices", "ringtrain::models::Classifier",
                  "ringtrain::models::makeModel", "ringtrain::models::modelSpecFromFile",
                  "ringtrain::models::parseLayerSizes", "ringtrain::models::modelKindName",
                  "ringtrain::train::runTraining",
                  "ringtrain::train::parseTrainOptions", "ringtrain::train::reconstructionHooks")
        self.assertEqual(sorted(n for n in names if not n.startswith(public)), [])
        # ... and what the headers promise is there.
        for promised in ("ringtrain::Runtime::Runtime(", "ringtrain::DataParallel::finishBackward(",
                         "ringtrain::DataParallel::finishStep(", "ringtrain::DataParallel::optimizerParameters(",
                         "ringtrain::DataParallel::clipGradNorm(", "ringtrain::DataParallel::zeroStage(",
                         "ringtrain::saveCheckpoint(ringtrain::Runtime&, ringtrain::DataParallel&",
                         "ringtrain::restoreLatestCheckpoint(ringtrain::Runtime&, ringtrain::DataParallel&",
                         "ringtrain::train::runTraining(ringtrain::Runtime&",
                         "ringtrain::train::parseTrainOptions(int, char**)",
                         "ringtrain::saveCheckpoint(", "ringtrain::data::shardIndices(",
                         "typeinfo for ringtrain::comm::CollectiveFailure"):
            self.assertTrue([s for s in symbols if s.startswith(promised)], promised)

    def start_custom_trainer(self, out, args, ready):
        """custom_trainer under mpirun at 2 ranks; (job, rank pids) once ready() holds."""
        program = self.program("custom_trainer")
        job = subprocess.Popen([MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", "2", program,
                                "--output-dir", out] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        self.addCleanup(self.end, job, out, program)
        deadline = time.monotonic() + 300
        while not ready() and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.05)
        self.assertTrue(ready(), "custom_trainer never got going" + (f":\n{job.communicate()[1]}" if job.poll() else ""))
        pids = rank_pids(out, program)
        self.assertEqual(len(pids), 2, pids)
        return job, pids

    @staticmethod
    def end(job, out, program):
        """Whatever a test left running of a job: gone, so that it does not slow the next ones."""
        for pid in rank_pids(out, program):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if job.poll() is None:
            job.kill()
            job.communicate()

    def test_a_frozen_rank_ends_the_job_within_the_comm_timeout(self):
        out = self.path("frozen")
        metrics = os.path.join(out, "metrics.jsonl")
        job, pids = self.start_custom_trainer(
            out, ENDLESS + ["--comm-timeout", str(COMM_TIMEOUT)],
            lambda: os.path.exists(metrics) and os.path.getsize(metrics) > 0)
        started = time.monotonic()
        os.kill(pids[1], signal.SIGSTOP)
        _, stderr = job.communicate(timeout=COMM_TIMEOUT * 1.1 + 2 + 60)
        elapsed = time.monotonic() - started
        self.assertNotEqual(job.returncode, 0, stderr)
        # The watchdog checks ten times per timeout; rank 1 would hold back 2 s before reporting.
        self.assertGreater(elapsed, COMM_TIMEOUT)
        self.assertLess(elapsed, COMM_TIMEOUT * 1.1 + 2 + 10, stderr)
        self.assertRegex(stderr, rf"(?m)^custom_trainer: error on rank 0 \(\S+\): .* has not completed after "
                                 rf"[0-9.]+ s: another rank stopped making progress or died "
                                 rf"\(--comm-timeout {COMM_TIMEOUT}\.0 s\)$")
        self.assertFalse(os.path.exists(os.path.join(out, "summary.json")))

    def test_a_stop_signal_ends_it_at_a_checkpoint_that_resumes(self):
        out = self.path("stopped")
        checkpoints = os.path.join(out, "checkpoints")
        args = ENDLESS + ["--checkpoint-every", "50", "--max-steps", "20000"]
        job, pids = self.start_custom_trainer(out, args, lambda: os.path.isdir(checkpoints) and any(
            name.startswith("step-") for name in os.listdir(checkpoints)))
        started = time.monotonic()
        os.kill(pids[1], signal.SIGTERM)
        stdout, stderr = job.communicate(timeout=120)
        self.assertEqual(job.returncode, 0, stderr)
        self.assertLess(time.monotonic() - started, 60)
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["stopped_by"], "SIGTERM")
        self.assertLess(summary["steps"], 20000)
        self.assertIn(f"stopping at step {summary['steps']}", stdout)
        newest = sorted(name for name in os.listdir(checkpoints) if name.startswith("step-"))[-1]
        self.assertEqual(newest, f"step-{summary['steps']:09d}")
        # Started again, it goes on from there.
        again = mpirun(2, self.program("custom_trainer"), "--output-dir", out,
                       *(args[:args.index("--max-steps")] + ["--max-steps", str(summary["steps"] + 10)]))
        self.assertIn("custom_trainer: steps=", again.stdout)
        with open(os.path.join(out, "summary.json")) as f:
            self.assertEqual(json.load(f)["resumed_at_step"], summary["steps"])

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

    def test_own_loop_shards_the_optimizer_and_its_checkpoints_move_between_stages(self):
        """DataParallel with a ZeRO stage trains the model it trains without one (to the bit: two ranks
        add in either order alike), its checkpoints hold the whole state, and they resume with or
        without sharding."""
        from safetensors.torch import load_file
        import torch

        def run(directory, stage, epochs):
            return mpirun(2, self.program("custom_loop"), "--epochs", epochs, "--checkpoints", directory,
                          "--zero", stage).stdout

        def epochs(text):
            return re.findall(r"(?m)^epoch .*", text)

        def files(directory, step, name):
            return os.path.join(directory, f"step-{step:09d}", name)

        replicated, sharded = self.path("zero0"), self.path("zero2")
        printed = run(replicated, "0", "2")
        shared = run(sharded, "2", "2")
        mine, total = (int(n) for n in re.search(r"--zero 2: rank 0 updates (\d+) of (\d+) ", shared).groups())
        self.assertLess(abs(mine - total / 2), total / 10, shared)  # about half each
        self.assertEqual(epochs(shared), epochs(printed))
        with open(files(replicated, 2, "model.safetensors"), "rb") as a, \
                open(files(sharded, 2, "model.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        ours, theirs = (load_file(files(d, 2, "optimizer.safetensors")) for d in (sharded, replicated))
        self.assertEqual(sorted(ours), sorted(theirs))
        self.assertTrue(ours and all(name.endswith(".momentum_buffer") for name in ours), sorted(ours))
        for name in ours:
            self.assertTrue(torch.equal(ours[name], theirs[name]), name)
        # Each goes on with the other's stage, to the same third epoch.
        self.assertEqual(epochs(run(sharded, "0", "3")), epochs(run(replicated, "1", "3")))
        with open(files(replicated, 3, "model.safetensors"), "rb") as a, \
                open(files(sharded, 3, "model.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())

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
