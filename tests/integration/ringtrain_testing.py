"""Helpers for the end-to-end tests: run the ringtrain executable (alone or under mpirun) and
read what it wrote. CTest sets RINGTRAIN_BIN and RINGTRAIN_MPIRUN."""
import json
import os
import re
import signal
import struct
import subprocess
import tempfile
import time
import unittest

import numpy as np
from safetensors.numpy import load_file

BIN = os.environ.get("RINGTRAIN_BIN", os.path.join(os.path.dirname(__file__), "../../build/ringtrain"))
MPIRUN = os.environ.get("RINGTRAIN_MPIRUN", "mpirun")


def command(args, ranks=None):
    """ranks=None runs the executable directly (a world of one, no launcher)."""
    base = [BIN]
    if ranks is not None:
        base = [MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", str(ranks), BIN]
    return base + [str(a) for a in args]


def run(args, ranks=None, timeout=180, cwd=None):
    started = time.monotonic()
    result = subprocess.run(command(args, ranks), capture_output=True, text=True, timeout=timeout, cwd=cwd)
    result.seconds = time.monotonic() - started
    return result


class RingtrainTestCase(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory(prefix="ringtrain-test-")
        self.dir = self._dir.name

    def tearDown(self):
        self._dir.cleanup()

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def train(self, name, args, ranks=None, timeout=300):
        out = self.path(name)
        result = run(["train", "--output-dir", out, "--progress", "off", "--threads", "1"] + list(args),
                     ranks=ranks, timeout=timeout)
        self.assertEqual(result.returncode, 0, f"ringtrain failed:\n{result.stdout}\n{result.stderr}")
        return out

    def start_training(self, out, args, ranks, ready, wait=300):
        """Starts a run under mpirun and returns (job, rank pids in rank order) once ready() holds."""
        flags = ["train", "--output-dir", out, "--progress", "off", "--threads", "1"] + list(args)
        job = subprocess.Popen(command(flags, ranks=ranks), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        deadline = time.monotonic() + wait
        while not ready() and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.05)
        self.assertTrue(ready(), "the run never got ready" + (f":\n{job.communicate()[1]}" if job.poll() else ""))
        pids = rank_pids(out)
        self.assertEqual(len(pids), ranks, pids)
        return job, pids

    @staticmethod
    def model(out):
        return load_file(os.path.join(out, "model.safetensors"))

    @staticmethod
    def summary(out):
        with open(os.path.join(out, "summary.json")) as f:
            return json.load(f)

    def assertModelsClose(self, a, b, rtol=1e-4, atol=1e-5):
        self.assertEqual(sorted(a), sorted(b))
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=rtol, atol=atol, err_msg=name)


def kill_quietly(pid):
    """SIGKILL for a process that may be gone already (a cleanup)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def rank_pids(out, program=None):
    """The pids of the ranks (not mpirun) of the run writing to `out`, in rank order: of
    `ringtrain train --output-dir OUT ...`, or of `program --output-dir OUT ...`."""
    program = program or f"{BIN} train"
    pattern = f"^{re.escape(program)} --output-dir {re.escape(out)} "
    ranks = {}
    for pid in subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except FileNotFoundError:
            continue
        ranks[int(env[b"OMPI_COMM_WORLD_RANK"])] = int(pid)
    return [ranks[r] for r in sorted(ranks)]


def write_csv(path, labels, features):
    with open(path, "w") as f:
        for label, row in zip(labels, features):
            f.write(",".join([str(int(label))] + [repr(float(v)) for v in row]) + "\n")


def write_idx(path, array):
    """An MNIST IDX file of unsigned bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())
