"""Jobs started by the SageMaker Python SDK itself, in its local mode: the SDK writes the job's
configuration files, the channels and the compose file as it does for any training container,
and only `docker compose` is replaced (sagemaker_sdk/compose_stand_in.py runs the image's
entrypoint in a private mount namespace with the volumes the compose file names). A generic
Estimator with one location for fit(), whose channel the SDK names 'training', and a framework
estimator whose `distribution={"mpi": ...}` sets the ranks per host and the mpirun options."""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

from ringtrain_testing import BIN, RingtrainTestCase

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sagemaker"))
import local_job  # noqa: E402

SDK_PYTHON = os.environ.get("RINGTRAIN_SAGEMAKER_SDK_PYTHON", "/opt/ringtrain/sagemaker-sdk/bin/python")
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sagemaker_sdk", "local_mode_job.py")


def unavailable():
    """Why a private mount namespace (the stand-in for the container) cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("unshare"):
        return "needs unshare"
    with tempfile.TemporaryDirectory() as directory:
        probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "probe",
                                directory], capture_output=True, text=True)
    return None if probe.returncode == 0 else "cannot mount in a new mount namespace: " + probe.stderr.strip()


UNAVAILABLE = unavailable()


@unittest.skipIf(UNAVAILABLE, f"cannot stand in for the container here: {UNAVAILABLE}")
class SageMakerSdkLocalMode(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        self.assertTrue(os.access(SDK_PYTHON, os.X_OK),
                        f"{SDK_PYTHON} is missing: scripts/setup.sh installs the SageMaker Python SDK there")
        # Two channels' worth of CSV files, as local_job.py lays them out.
        self.data = local_job.make_job(self.path("data"), {})
        local_job.fill_csv_channels(self.data)

    def location(self, channel):
        return "file://" + os.path.join(self.data, "input", "data", channel)

    def fit(self, estimator, fit, hyperparameters, distribution=None):
        """Runs the job through the SDK; returns (summary.json from model.tar.gz, the container's log)."""
        output, log = self.path("output"), self.path("container.log")
        os.makedirs(self.path("work"), exist_ok=True)
        command = [SDK_PYTHON, DRIVER, "--estimator", estimator, "--work", self.path("work"), "--output", output,
                   "--fit", fit if isinstance(fit, str) else json.dumps(fit),
                   "--hyperparameters", json.dumps(hyperparameters)]
        if distribution:
            command += ["--distribution", json.dumps(distribution)]
        env = dict(os.environ, RINGTRAIN_BIN=BIN, RINGTRAIN_CONTAINER_LOG=log)
        env.pop("RINGTRAIN_SAGEMAKER_ROOT", None)
        job = subprocess.run(command, capture_output=True, text=True, env=env, timeout=400)
        with open(log) as f:
            container = f.read()
        self.assertEqual(job.returncode, 0, f"{job.stdout[-4000:]}\n{job.stderr[-4000:]}\n{container}")
        result = json.loads(job.stdout.strip().splitlines()[-1])
        self.assertEqual(result["model_data"], "file://" + os.path.join(output, "model.tar.gz"))
        with tarfile.open(os.path.join(output, "model.tar.gz")) as archive:
            self.assertEqual(sorted(archive.getnames()), ["metrics.jsonl", "model.safetensors", "summary.json"])
            summary = json.load(archive.extractfile("summary.json"))
        return summary, container

    def test_generic_estimator_with_one_location_trains_on_the_training_channel(self):
        summary, log = self.fit("generic", self.location("train"),
                                {"epochs": 2, "hidden": [32, 16], "batch_size": 32, "drop_last": True,
                                 "processes_per_host": 2})
        self.assertEqual(summary["world_size"], 2)
        self.assertEqual(summary["epochs"], 2)
        self.assertGreater(summary["val_accuracy"], 0.9)
        self.assertIn("--train=/opt/ml/input/data/training", log)
        self.assertNotIn("ringtrain sagemaker: warning", log)

    def test_framework_estimators_mpi_distribution_sets_ranks_and_mpirun_options(self):
        summary, log = self.fit(
            "pytorch", {"training": self.location("train"), "validation": self.location("validation")},
            {"epochs": 2, "hidden": [32, 16], "optimizer": "adamw", "lr": 0.003, "batch_size": 32},
            distribution={"mpi": {"enabled": True, "processes_per_host": 2,
                                  "custom_mpi_options": "-x RINGTRAIN_SDK_OPTION=1"}})
        self.assertEqual(summary["world_size"], 2)
        self.assertGreater(summary["val_accuracy"], 0.9)
        self.assertIn("--val=/opt/ml/input/data/validation", log)
        self.assertIn("-x RINGTRAIN_SDK_OPTION=1 ", log)
        # The entry point a framework estimator insists on is not what runs, and the log says so.
        self.assertIn("ringtrain sagemaker: warning: the estimator's entry point 'train.sh' (sagemaker_program) "
                      "is not run", log)


if __name__ == "__main__":
    unittest.main()
