"""Threads per rank follow the cores a rank may use: Open MPI binds each rank to one core when it
starts 2 or fewer, and two threads on one core ran at half the speed of one."""
import os
import shutil
import subprocess
import unittest

from ringtrain_testing import BIN, MPIRUN, RingtrainTestCase

ARGS = ["train", "--train", "synthetic:2000", "--hidden", "64", "--epochs", "1", "--progress", "off"]


class CpuBinding(RingtrainTestCase):
    def banner(self, launcher, name):
        result = subprocess.run(launcher + [BIN] + ARGS + ["--output-dir", self.path(name)],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_a_bound_rank_runs_one_thread_and_says_why(self):
        cores = len(os.sched_getaffinity(0))
        if cores < 2 or cores < os.cpu_count():
            self.skipTest("needs 2 cores and no CPU set narrower than the host")
        bound = self.banner([MPIRUN, "-np", "1"], "bound")
        if "(its CPU affinity)" not in bound:
            self.skipTest("this mpirun did not bind the rank to a core")
        self.assertIn("1 rank(s), device cpu, backend mpi, 1 thread(s) per rank", bound)
        self.assertIn("--bind-to none lets each use its share", bound)
        free = self.banner([MPIRUN, "--bind-to", "none", "-np", "1"], "free")
        self.assertIn(f"{cores} thread(s) per rank", free)
        self.assertNotIn("(its CPU affinity)", free)

    def test_a_process_confined_to_one_core_runs_one_thread_and_says_why(self):
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) < 2 or shutil.which("taskset") is None:
            self.skipTest("needs 2 cores and taskset")
        confined = self.banner(["taskset", "-c", str(allowed[0])], "confined")
        self.assertIn("1 thread(s) per rank", confined)
        self.assertIn("(its CPU affinity)", confined)
        free = self.banner([], "free")
        self.assertIn(f"{len(allowed)} thread(s) per rank", free)


if __name__ == "__main__":
    unittest.main()
