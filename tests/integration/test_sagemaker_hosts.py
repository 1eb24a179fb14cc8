"""A two-instance SageMaker job through the entrypoint, with the hosts emulated on this machine
(sagemaker/emulate_hosts.py: network, mount and UTS namespaces, each with its own sshd and
/opt/ml): the ready/done handshake, one mpirun over both hosts, artifacts on the master only, and
the worker's clean exit."""
import json
import os
import subprocess
import sys
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
        self.hosts = emulate_hosts.EmulatedHosts(2, self.path("hosts"))
        self.addCleanup(self.hosts.destroy)

    def test_one_mpirun_over_both_hosts_and_the_worker_leaves_when_done(self):
        hyperparameters = {"epochs": 2, "hidden": [32], "processes_per_host": 1, "batch_size": 32}
        for n in self.hosts.hosts():
            root = local_job.make_job(self.hosts.root(n), hyperparameters, hosts=("algo-2", "algo-1"),
                                      current_host=f"algo-{n}")
            local_job.fill_csv_channels(root)
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   TRAINING_JOB_NAME=f"test-{os.getpid()}-{id(self)}")
        env.pop("RINGTRAIN_SAGEMAKER_ROOT", None)
        worker = subprocess.Popen(self.hosts.enter(2, [BIN, "sagemaker", "train"]), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        master = subprocess.Popen(self.hosts.enter(1, [BIN, "sagemaker", "train"]), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        # Nothing of the job is left in either host.
        for n in self.hosts.hosts():
            pids = subprocess.run(["ip", "netns", "pids", f"{emulate_hosts.PREFIX}-{n}"], capture_output=True,
                                  text=True).stdout.split()
            self.assertEqual(pids, [], f"algo-{n} still runs {pids}")


if __name__ == "__main__":
    unittest.main()
