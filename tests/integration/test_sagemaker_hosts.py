"""A two-instance SageMaker job through the entrypoint, with the hosts emulated on this machine
(sagemaker/emulate_hosts.py: network, mount and UTS namespaces, each with its own sshd and
/opt/ml): the ready/done handshake, one mpirun over both hosts, artifacts on the master only, the
worker's clean exit, SageMaker's stop (SIGTERM to every host), and sshd turning away a host that
has the image's key but is not one of the job's."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

from ringtrain_testing import BIN, RingtrainTestCase

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sagemaker"))
import emulate_hosts  # noqa: E402
import local_job  # noqa: E402

UNAVAILABLE = emulate_hosts.available()


@unittest.skipIf(UNAVAILABLE, f"cannot emulate hosts here: {UNAVAILABLE}")
class TwoHostJob(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(emulate_hosts.destroy)
        self.hosts = emulate_hosts.EmulatedHosts(2, self.path("hosts"))

    def start(self, hyperparameters, rows=2000):
        """Both hosts' entrypoints, the worker first; returns (master, worker)."""
        for n in self.hosts.hosts():
            root = local_job.make_job(self.hosts.root(n), hyperparameters, hosts=("algo-2", "algo-1"),
                                      current_host=f"algo-{n}")
            local_job.fill_csv_channels(root, rows=rows)
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   TRAINING_JOB_NAME=f"test-{os.getpid()}-{id(self)}", **self.hosts.environment())
        env.pop("RINGTRAIN_SAGEMAKER_ROOT", None)
        worker = subprocess.Popen(self.hosts.enter(2, [BIN, "sagemaker", "train"]), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        master = subprocess.Popen(self.hosts.enter(1, [BIN, "sagemaker", "train"]), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return master, worker

    def assertNothingLeft(self):
        for n in self.hosts.hosts():
            pids = subprocess.run(["ip", "netns", "pids", f"{emulate_hosts.PREFIX}-{n}"], capture_output=True,
                                  text=True).stdout.split()
            self.assertEqual(pids, [], f"algo-{n} still runs {pids}")

    def test_sigterm_to_every_host_checkpoints_on_the_master_and_both_exit_zero(self):
        # SageMaker stops a job by SIGTERM to every host's entrypoint.
        master, worker = self.start({"epochs": 50, "hidden": [256, 256], "processes_per_host": 1}, rows=20000)
        metrics = os.path.join(self.hosts.root(1), "model", "metrics.jsonl")
        deadline = time.monotonic() + 120
        while not os.path.exists(metrics) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(os.path.exists(metrics), "training never started")
        started = time.monotonic()
        master.send_signal(signal.SIGTERM)
        worker.send_signal(signal.SIGTERM)
        master_out, _ = master.communicate(timeout=150)
        worker_out, _ = worker.communicate(timeout=150)
        self.assertLess(time.monotonic() - started, 110)
        self.assertEqual(master.returncode, 0, master_out)
        self.assertEqual(worker.returncode, 0, worker_out)
        checkpoints = os.listdir(os.path.join(self.hosts.root(1), "checkpoints"))
        self.assertTrue(any(name.startswith("step-") for name in checkpoints), master_out)
        with open(os.path.join(self.hosts.root(1), "model", "summary.json")) as f:
            self.assertEqual(json.load(f)["stopped_by"], "SIGUSR1")
        self.assertNothingLeft()

    def test_one_mpirun_over_both_hosts_and_the_worker_leaves_when_done(self):
        master, worker = self.start({"epochs": 2, "hidden": [32], "processes_per_host": 1, "batch_size": 32})
        master_out, _ = master.communicate(timeout=300)
        worker_out, _ = worker.communicate(timeout=120)
        self.assertEqual(master.returncode, 0, master_out)
        self.assertEqual(worker.returncode, 0, worker_out)
        self.assertIn("host algo-2 is ready", master_out)
        self.assertIn("the master reported the end of the job: 0", worker_out)

        model = os.path.join(self.hosts.root(1), "model")
        self.assertEqual(sorted(os.listdir(model)), ["metrics.jsonl", "model.safetensors", "summary.json"])
        self.assertEqual(os.listdir(os.path.join(self.hosts.root(2), "model")), [])
        with open(os.path.join(model, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["world_size"], 2)
        self.assertGreater(summary["val_accuracy"], 0.9)
        self.assertRegex(master_out, r"val_accuracy=[0-9.]+")
        for n in self.hosts.hosts():
            self.assertFalse(os.path.exists(os.path.join(self.hosts.root(n), "output", "failure")))
        self.assertNothingLeft()

    def test_sshd_admits_root_only_from_the_jobs_hosts(self):
        # A third host on the same network holds the image's key but is not part of the job.
        self.hosts = emulate_hosts.EmulatedHosts(3, self.path("three-hosts"))
        root = local_job.make_job(self.hosts.root(1), {"epochs": 1, "processes_per_host": 1},
                                  hosts=("algo-1", "algo-2"), current_host="algo-1")
        local_job.fill_csv_channels(root, rows=200)
        env = dict(os.environ, TRAINING_JOB_NAME=f"test-{os.getpid()}-ssh", **self.hosts.environment())
        env.pop("RINGTRAIN_SAGEMAKER_ROOT", None)
        # The master alone: it starts sshd and waits for its worker, which never comes.
        master = subprocess.Popen(self.hosts.enter(1, [BIN, "sagemaker", "train"]), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(master.kill)

        def login_from(n):
            return subprocess.run(self.hosts.enter(n, ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                                                       "algo-1", "true"]), capture_output=True, text=True)

        deadline = time.monotonic() + 60
        while login_from(2).returncode != 0:
            self.assertLess(time.monotonic(), deadline, "the job's worker never got in")
            time.sleep(0.5)
        refused = login_from(3)
        self.assertEqual(refused.returncode, 255, refused.stdout + refused.stderr)
        self.assertIn("Permission denied", refused.stderr)
        master.send_signal(signal.SIGTERM)
        master.communicate(timeout=60)


if __name__ == "__main__":
    unittest.main()
