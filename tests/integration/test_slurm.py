"""examples/slurm/ on a real Slurm: the test starts munged, slurmctld and slurmd for a one-node
cluster on this machine with a configuration it writes (Debian's slurm-wlm and munge, which
scripts/setup.sh installs), then submits both examples with `sbatch --wait`: mpirun inside the
allocation and srun through PMIx. Each run has the world size of its tasks and its outputs. Then
`scancel --signal=USR1 --batch` in the middle of a run (the stop examples/slurm/README.md gives)
leaves a checkpoint, and the same job submitted again goes on from it. Skips, saying why, where
Slurm cannot start. Every wait is bounded well within CTest's 600 s."""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from ringtrain_testing import BIN as RELATIVE_BIN

BIN = os.path.abspath(RELATIVE_BIN)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples", "slurm")
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scancel", "squeue", "sinfo")
# Small enough for 2 ranks on any machine; the overrides make the examples' GPU nodes fit it.
SMALL = ["--train", "synthetic:2000:32:4", "--val", "none", "--hidden", "32", "--batch-size", "32", "--epochs",
         "1", "--threads", "1", "--progress", "off", "--log-every", "20"]
SUBMIT = ["--nodes=1", "--ntasks=2", "--ntasks-per-node=2", "--gpus-per-node=0", "--time=10"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    """munged, slurmctld and slurmd for this machine alone, under `root`."""

    def __init__(self, root):
        self.root = root
        self.processes = []
        self.host = socket.gethostname()
        for folder in ("munge", "spool", "state", "log"):
            os.makedirs(os.path.join(root, folder), mode=0o700)
        key = os.path.join(root, "munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        self.socket = os.path.join(root, "munge", "socket")
        self.conf = os.path.join(root, "slurm.conf")
        with open(self.conf, "w") as f:
            f.write(f"""ClusterName=ringtrain-test
SlurmctldHost={self.host}
AuthType=auth/munge
AuthInfo=socket={self.socket}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=30
NodeName={self.host} CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=test Nodes={self.host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
""")
        self.env = dict(os.environ, SLURM_CONF=self.conf, RINGTRAIN=BIN, OMPI_ALLOW_RUN_AS_ROOT="1",
                        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

    def start(self):
        """Nothing, or why the cluster could not start."""
        munged = subprocess.run(["munged", "--force", "-S", self.socket, f"--key-file={self.root}/munge/munge.key",
                                 f"--log-file={self.root}/log/munged.log", f"--pid-file={self.root}/munge/pid",
                                 f"--seed-file={self.root}/munge/seed"], capture_output=True, text=True)
        if munged.returncode != 0:
            return f"munged: {munged.stderr.strip()}"
        for daemon in (["slurmctld", "-D", "-i"], ["slurmd", "-D"]):
            self.processes.append(subprocess.Popen(daemon, env=self.env, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True,
                                   timeout=30)
            if state.stdout.strip() == "idle":
                return None
            time.sleep(0.5)
        logs = ""
        for name in ("slurmctld", "slurmd"):
            path = os.path.join(self.root, "log", f"{name}.log")
            if os.path.exists(path):
                with open(path) as f:
                    logs += f"\n{name}: " + " | ".join(f.read().splitlines()[-3:])
        return f"the node never became idle{logs}"

    def stop(self):
        subprocess.run(["scancel", "--full", "-u", "root"], env=self.env, capture_output=True, timeout=30)
        # The jobs' processes end before the daemons that watch them.
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and subprocess.run(
                ["squeue", "-h"], env=self.env, capture_output=True, text=True, timeout=30).stdout.strip():
            time.sleep(0.5)
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        subprocess.run(["munged", "-S", self.socket, "--stop"], capture_output=True, timeout=30)

    def sbatch(self, script, args, wait=True, cwd=None, extra=()):
        command = ["sbatch", "--parsable"] + (["--wait"] if wait else []) + SUBMIT + list(extra) + \
            [os.path.join(EXAMPLES, script)] + list(args)
        return subprocess.run(command, env=self.env, capture_output=True, text=True, cwd=cwd, timeout=150)

    def running(self, job):
        return bool(subprocess.run(["squeue", "-h", "-j", job], env=self.env, capture_output=True,
                                   text=True, timeout=30).stdout.strip())


class Slurm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [name for name in DAEMONS if not shutil.which(name)]
        if missing:
            raise unittest.SkipTest(f"Slurm is not installed ({', '.join(missing)} missing; scripts/setup.sh "
                                    "installs slurm-wlm and munge)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("the test's one-node Slurm runs its daemons as root")
        cls._dir = tempfile.TemporaryDirectory(prefix="ringtrain-slurm-")
        cls.cluster = SlurmCluster(cls._dir.name)
        try:
            problem = cls.cluster.start()
        except Exception:
            cls.cluster.stop()
            cls._dir.cleanup()
            raise
        if problem:
            cls.cluster.stop()
            cls._dir.cleanup()
            raise unittest.SkipTest(f"Slurm could not start here: {problem}")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        cls._dir.cleanup()

    def run_dir(self, name):
        return os.path.join(self._dir.name, "runs", name)

    def submit_and_check(self, script, name, ranks=2):
        out = self.run_dir(name)
        result = self.cluster.sbatch(script, SMALL, cwd=self._dir.name,
                                     extra=[f"--export=ALL,RUN_DIR={out}", f"--ntasks={ranks}",
                                            f"--ntasks-per-node={ranks}"])
        job = result.stdout.strip()
        log = os.path.join(self._dir.name, f"ringtrain-{job}.out")
        text = ""
        if os.path.exists(log):
            with open(log) as f:
                text = f.read()
        self.assertEqual(result.returncode, 0, f"{result.stderr}\n{text}")
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["world_size"], ranks, text)
        steps = -(-2000 // (32 * ranks))
        self.assertEqual(summary["steps"], steps)
        for name in ("model.safetensors", "metrics.jsonl"):
            self.assertTrue(os.path.exists(os.path.join(out, name)), name)
        self.assertIn(f"done: steps={steps}", text)

    def test_mpirun_inside_the_allocation(self):
        self.submit_and_check("mpirun.sbatch", "mpirun")

    def test_mpirun_starts_as_many_ranks_as_the_allocation_has_tasks(self):
        # One task on a machine of two or more cores: mpirun's own default would start more.
        self.submit_and_check("mpirun.sbatch", "one-task", ranks=1)

    def test_srun_through_pmix(self):
        self.submit_and_check("srun.sbatch", "srun")

    def test_a_stop_by_scancel_leaves_a_checkpoint_the_resubmitted_job_goes_on_from(self):
        out = self.run_dir("cancelled")
        args = SMALL[:]
        args[args.index("synthetic:2000:32:4")] = "synthetic:400000:32:4"
        args += ["--checkpoint-every", "200"]
        submitted = self.cluster.sbatch("mpirun.sbatch", args, wait=False, cwd=self._dir.name,
                                        extra=[f"--export=ALL,RUN_DIR={out}"])
        self.assertEqual(submitted.returncode, 0, submitted.stderr)
        job = submitted.stdout.strip()
        checkpoints = os.path.join(out, "checkpoints", "step-*")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not glob.glob(checkpoints) and self.cluster.running(job):
            time.sleep(0.2)
        self.assertTrue(glob.glob(checkpoints), "no checkpoint before the stop")
        subprocess.run(["scancel", "--signal=USR1", "--batch", job], env=self.cluster.env, check=True, timeout=30)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.cluster.running(job):
            time.sleep(0.5)
        self.assertFalse(self.cluster.running(job), "the job did not end after the stop")
        with open(os.path.join(out, "summary.json")) as f:
            stopped = json.load(f)
        self.assertEqual(stopped["stopped_by"], "SIGUSR1")
        self.assertLess(stopped["steps"], 400000 // 64)
        newest = max(glob.glob(checkpoints))
        self.assertTrue(newest.endswith(f"step-{stopped['steps']:09d}"), (newest, stopped["steps"]))
        # The same job again: it goes on from where the cancel left it, to the end.
        again = self.cluster.sbatch("mpirun.sbatch", args, cwd=self._dir.name, extra=[f"--export=ALL,RUN_DIR={out}"])
        self.assertEqual(again.returncode, 0, again.stderr)
        with open(os.path.join(out, "summary.json")) as f:
            finished = json.load(f)
        self.assertEqual(finished["resumed_at_step"], stopped["steps"])
        self.assertEqual(finished["steps"], 400000 // 64)
        with open(os.path.join(out, "metrics.jsonl")) as f:
            events = [json.loads(line) for line in f if '"event"' in line]
        self.assertEqual([(e["event"], e["step"]) for e in events], [("resumed", stopped["steps"])])


if __name__ == "__main__":
    unittest.main()
