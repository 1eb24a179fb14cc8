"""The container entrypoint (`ringtrain sagemaker train`) on an emulated SageMaker host: the job
tree as SageMaker writes it (sagemaker/local_job.py), outputs where SageMaker collects them, the
failure file on bad jobs, and SIGTERM as SageMaker's stop."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

from ringtrain_testing import BIN, RingtrainTestCase

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sagemaker"))
import local_job  # noqa: E402


class SageMakerEntrypoint(RingtrainTestCase):
    def job(self, hyperparameters, **kwargs):
        root = local_job.make_job(self.path("opt-ml"), hyperparameters, **kwargs)
        return root

    def run_entrypoint(self, root, timeout=300):
        job = local_job.start_entrypoint(BIN, root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
        out, err = job.communicate(timeout=timeout)
        return job.returncode, out, err

    @staticmethod
    def failure(root):
        path = os.path.join(root, "output", "failure")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read()

    @staticmethod
    def summary_of(root):
        with open(os.path.join(root, "model", "summary.json")) as f:
            return json.load(f)

    @staticmethod
    def ranks(root):
        """The ranks' pids: processes whose command line starts with the trainer (not mpirun's)."""
        return subprocess.run(["pgrep", "-f", f"^{BIN} train .*--output-dir={root}/model"], capture_output=True,
                              text=True).stdout.split()

    def assertNothingLeft(self, root):
        left = subprocess.run(["pgrep", "-f", f"--output-dir={root}/model"], capture_output=True, text=True)
        self.assertEqual(left.stdout.strip(), "", "processes left behind")

    def start_long_job(self):
        """A job of 2 ranks that would run for minutes, once its ranks are training."""
        root = self.job({"epochs": 50, "processes_per_host": 2, "hidden": [256, 256]})
        local_job.fill_csv_channels(root, rows=20000)
        job = local_job.start_entrypoint(BIN, root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        metrics = os.path.join(root, "model", "metrics.jsonl")
        deadline = time.monotonic() + 120
        while not os.path.exists(metrics) and time.monotonic() < deadline:
            time.sleep(0.1)
        return root, job

    def test_one_host_two_ranks_writes_the_model_and_prints_metrics(self):
        root = self.job({"epochs": 2, "hidden": [32, 16], "optimizer": "adamw", "lr": 0.003,
                         "processes_per_host": 2, "drop_last": True, "batch_size": 32})
        local_job.fill_csv_channels(root)
        code, out, err = self.run_entrypoint(root)
        self.assertEqual(code, 0, err)
        self.assertEqual(sorted(os.listdir(os.path.join(root, "model"))),
                         ["metrics.jsonl", "model.safetensors", "summary.json"])
        summary = self.summary_of(root)
        self.assertEqual(summary["world_size"], 2)
        self.assertEqual(summary["epochs"], 2)
        self.assertGreater(summary["val_accuracy"], 0.9)
        # Metric lines as the Estimator's metric_definitions read them (sagemaker/launch.py).
        self.assertRegex(out, r"val_accuracy=[0-9.]+")
        self.assertRegex(out, r"loss=[0-9.]+")
        self.assertIsNone(self.failure(root))
        self.assertNothingLeft(root)

    def test_a_model_spec_in_a_channel_is_a_hyperparameter(self):
        channels = {name: ("File", "FullyReplicated") for name in ("train", "validation", "network")}
        root = os.path.join(self.path("opt-ml"))
        spec = os.path.join(root, "input", "data", "network", "net.json")
        root = self.job({"epochs": 2, "model_spec": spec, "processes_per_host": 2, "batch_size": 32},
                        channels=channels)
        local_job.fill_csv_channels(root)
        with open(spec, "w") as f:
            json.dump([{"type": "Linear", "out_features": 24}, {"type": "BatchNorm1d"}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": 4}], f)
        code, out, err = self.run_entrypoint(root)
        self.assertEqual(code, 0, err)
        summary = self.summary_of(root)
        self.assertEqual((summary["model"], summary["world_size"]), ("spec", 2))
        self.assertGreater(summary["val_accuracy"], 0.9)
        self.assertNothingLeft(root)

    def test_local_job_takes_python_booleans_as_switches(self):
        # `--hyperparameter nesterov=True`, as a Python user writes it, is the switch, not "True".
        script = os.path.join(os.path.dirname(local_job.__file__), "local_job.py")
        result = subprocess.run([sys.executable, script, "--ringtrain", BIN, "--root", self.path("opt-ml"),
                                 "--hyperparameter", "nesterov=True", "--hyperparameter", "epochs=1",
                                 "--hyperparameter", "hidden=16"],
                                capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("model.safetensors", result.stdout)
        with open(os.path.join(self.path("opt-ml"), "input", "config", "hyperparameters.json")) as f:
            self.assertEqual(json.load(f)["nesterov"], "true")

    def test_a_bad_hyperparameter_fails_the_job_with_its_name(self):
        # A former name of a flag (train's --data) is for the command line, not a hyperparameter.
        for hyperparameters, reason in [({"epoch": 3}, "hyperparameter 'epoch' is not a flag of ringtrain train"),
                                        ({"data": "x"}, "hyperparameter 'data' is not a flag of ringtrain train"),
                                        ({"lr": "fast"}, "--lr"),
                                        ({"drop_last": "maybe"}, "'drop_last' is a switch")]:
            with self.subTest(reason=reason):
                root = self.job(hyperparameters)
                local_job.fill_csv_channels(root)
                code, _, err = self.run_entrypoint(root)
                self.assertEqual(code, 2, err)
                self.assertIn(reason, self.failure(root))
                os.rename(root, root + f"-{time.monotonic_ns()}")

    def test_a_missing_channel_fails_the_job(self):
        root = self.job({"epochs": 1}, channels={"validation": ("File", "FullyReplicated")})
        code, _, _ = self.run_entrypoint(root)
        self.assertEqual(code, 2)
        self.assertIn("no 'train' or 'training' channel", self.failure(root))

    def test_a_rank_that_crashes_fails_the_job_and_leaves_nothing_behind(self):
        root, job = self.start_long_job()
        ranks = self.ranks(root)
        self.assertEqual(len(ranks), 2, ranks)
        os.kill(int(ranks[-1]), signal.SIGKILL)
        _, err = job.communicate(timeout=120)
        self.assertNotEqual(job.returncode, 0)
        reason = self.failure(root)
        self.assertTrue(reason and reason.strip(), err)
        self.assertLessEqual(len(reason), 1025)
        self.assertNothingLeft(root)

    def test_sigterm_checkpoints_and_exits_zero(self):
        root, job = self.start_long_job()
        started = time.monotonic()
        job.send_signal(signal.SIGTERM)
        out, err = job.communicate(timeout=120)
        self.assertEqual(job.returncode, 0, err)
        self.assertLess(time.monotonic() - started, 110)
        self.assertTrue(any(name.startswith("step-") for name in os.listdir(os.path.join(root, "checkpoints"))),
                        out + err)
        summary = self.summary_of(root)
        self.assertEqual(summary["stopped_by"], "SIGUSR1")
        self.assertIsNone(self.failure(root))
        self.assertNothingLeft(root)

        # The next start (a spot restart) resumes from that checkpoint; a few more steps suffice.
        hyperparameters = {"epochs": 50, "processes_per_host": 2, "hidden": [256, 256],
                           "max_steps": summary["steps"] + 3}
        with open(os.path.join(root, "input/config/hyperparameters.json"), "w") as f:
            json.dump(local_job.encode_hyperparameters(hyperparameters), f)
        code, out, err = self.run_entrypoint(root)
        self.assertEqual(code, 0, err)
        self.assertIn("resumed from", out + err)


if __name__ == "__main__":
    unittest.main()
