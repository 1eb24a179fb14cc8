"""examples/kubernetes/mpijob.yaml, the MPIJob for the Kubeflow MPI Operator: it parses, has what
the operator requires (kubeflow.org/v2beta1, a Launcher of one replica and Workers, containers
with images), and agrees with itself and with ringtrain: ranks = workers x slots = workers x GPUs,
every volume a container mounts is one its pod has, launcher and workers run the same image, the
workers run sshd, every flag after `ringtrain train` is one the command takes, and the run's
outputs and checkpoints lie on a volume the workers share. No cluster runs it here."""
import os
import re
import unittest

import yaml

from ringtrain_testing import run

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MANIFEST = os.path.join(ROOT, "examples", "kubernetes", "mpijob.yaml")


def option(command, name):
    return command[command.index(name) + 1]


class KubernetesManifest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(MANIFEST) as f:
            cls.job = yaml.safe_load(f)
        cls.spec = cls.job["spec"]
        cls.launcher = cls.spec["mpiReplicaSpecs"]["Launcher"]
        cls.worker = cls.spec["mpiReplicaSpecs"]["Worker"]

    def containers(self, replica):
        containers = replica["template"]["spec"]["containers"]
        self.assertEqual(len(containers), 1)
        return containers[0]

    def test_what_the_operator_requires(self):
        self.assertEqual(self.job["apiVersion"], "kubeflow.org/v2beta1")
        self.assertEqual(self.job["kind"], "MPIJob")
        self.assertRegex(self.job["metadata"]["name"], r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
        self.assertEqual(set(self.spec["mpiReplicaSpecs"]), {"Launcher", "Worker"})
        self.assertEqual(self.launcher["replicas"], 1)
        self.assertGreaterEqual(self.worker["replicas"], 1)
        self.assertEqual(self.spec["mpiImplementation"], "OpenMPI")
        self.assertIn(self.spec["launcherCreationPolicy"], ("AtStartup", "WaitForWorkersReady"))
        self.assertIn(self.spec["runPolicy"]["cleanPodPolicy"], ("None", "Running", "All"))
        for replica in (self.launcher, self.worker):
            container = self.containers(replica)
            self.assertTrue(container["name"])
            self.assertTrue(container["image"])

    def test_ranks_slots_and_gpus_agree(self):
        command = self.containers(self.launcher)["command"]
        self.assertEqual(command[0], "mpirun")
        gpus = self.containers(self.worker)["resources"]["limits"]["nvidia.com/gpu"]
        self.assertEqual(self.spec["slotsPerWorker"], gpus)
        self.assertEqual(int(option(command, "--np")), self.worker["replicas"] * self.spec["slotsPerWorker"])

    def test_the_launcher_starts_ringtrain_train_with_flags_it_takes(self):
        command = self.containers(self.launcher)["command"]
        self.assertEqual(self.containers(self.launcher)["image"], self.containers(self.worker)["image"])
        start = command.index("/usr/local/bin/ringtrain")
        self.assertEqual(command[start + 1], "train")
        flags = run(["train", "--help"]).stdout
        known = set(re.findall(r"--([a-z0-9-]+)", flags))
        arguments = command[start + 2:]
        for word in arguments:
            if word.startswith("--"):
                with self.subTest(flag=word):
                    self.assertIn(word[2:], known)
        self.assertEqual(option(arguments, "--resume"), "auto")

    def test_the_workers_run_sshd_and_mount_what_the_run_needs(self):
        worker = " ".join(self.containers(self.worker)["command"])
        self.assertIn("sshd -De", worker)
        # The image leaves host keys out (each SageMaker host makes its own): a worker makes them.
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            self.assertIn("rm -f /etc/ssh/ssh_host_*", f.read())
        self.assertLess(worker.index("ssh-keygen -A"), worker.index("sshd -De"))
        # The operator's key pair hides the image's /root/.ssh/config: the launcher says it itself.
        launcher = self.containers(self.launcher)["command"]
        self.assertIn("StrictHostKeyChecking=no", option(launcher, "plm_rsh_args"))
        pod = self.worker["template"]["spec"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounts = {mount["mountPath"]: mount for mount in self.containers(self.worker)["volumeMounts"]}
        for mount in mounts.values():
            self.assertIn(mount["name"], volumes)
        for replica in (self.launcher,):
            for mount in self.containers(replica).get("volumeMounts", []):
                self.assertIn(mount["name"], {v["name"] for v in replica["template"]["spec"].get("volumes", [])})
        command = self.containers(self.launcher)["command"]

        def mount_of(path):
            holders = [m for p, m in mounts.items() if path == p or path.startswith(p.rstrip("/") + "/")]
            self.assertTrue(holders, f"{path} is on no volume the workers mount")
            return holders[0]

        for flag in ("--output-dir", "--tensorboard"):
            with self.subTest(flag=flag):
                mount = mount_of(option(command, flag))
                self.assertFalse(mount.get("readOnly", False))
                self.assertIn("persistentVolumeClaim", volumes[mount["name"]])
        for flag in ("--train", "--val"):
            with self.subTest(flag=flag):
                mount_of(option(command, flag).split(":", 1)[1])


if __name__ == "__main__":
    unittest.main()
