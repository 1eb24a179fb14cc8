"""No rank is left waiting: when one rank dies or stops making progress, every rank of the job is
gone, with a non-zero exit, within --comm-timeout."""
import os
import re
import signal
import subprocess
import time
import unittest

from ringtrain_testing import BIN, RingtrainTestCase, command, kill_quietly, rank_pids

TIMEOUT = 5
# Tens of thousands of steps: far longer than any test waits.
DATA = ["--train", "synthetic:200000:64:4", "--val", "synthetic:100:64:4", "--hidden", "128",
        "--batch-size", "8", "--log-every", "20"]
ENDLESS = DATA + ["--epochs", "50", "--comm-timeout", str(TIMEOUT)]


class FailFast(RingtrainTestCase):
    def start(self, name, ranks, args=ENDLESS):
        out = self.path(name)
        metrics = os.path.join(out, "metrics.jsonl")
        job, pids = self.start_training(out, args, ranks,
                                        lambda: os.path.exists(metrics) and os.path.getsize(metrics) > 0)
        return out, job, pids

    def assertJobGone(self, job, out, started, bound):
        stdout, stderr = job.communicate(timeout=bound + 60)
        elapsed = time.monotonic() - started
        self.assertNotEqual(job.returncode, 0, stderr)
        self.assertLess(elapsed, bound, stderr)
        deadline = time.monotonic() + 10
        while rank_pids(out) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(rank_pids(out), [], "ranks outlived the job")
        self.assertFalse(os.path.exists(os.path.join(out, "summary.json")), "the run finished on its own")
        return stderr

    def test_a_killed_rank_ends_the_job(self):
        for ranks, victim in ((2, 1), (3, 0), (3, 2)):
            with self.subTest(ranks=ranks, killed=victim):
                out, job, pids = self.start(f"kill-{ranks}-{victim}", ranks)
                started = time.monotonic()
                os.kill(pids[victim], signal.SIGKILL)
                self.assertJobGone(job, out, started, TIMEOUT)

    def test_a_rank_that_stops_making_progress_ends_the_job_after_the_timeout(self):
        for ranks, victim in ((2, 1), (3, 0), (3, 1)):
            with self.subTest(ranks=ranks, stopped=victim):
                out, job, pids = self.start(f"stop-{ranks}-{victim}", ranks)
                started = time.monotonic()
                os.kill(pids[victim], signal.SIGSTOP)
                # The check runs ten times per timeout; rank r > 0 holds back 2r seconds so that
                # one report comes first.
                stderr = self.assertJobGone(job, out, started, TIMEOUT * 1.1 + 2 * (ranks - 1) + 10)
                self.assertGreater(time.monotonic() - started, TIMEOUT)
                reports = [line for line in stderr.splitlines() if "has not completed after" in line]
                self.assertEqual(len(reports), 1, stderr)
                reporter = 0 if victim != 0 else 1
                self.assertRegex(reports[0], rf"^ringtrain train: error on rank {reporter} \(\S+\): "
                                             rf"\w+ of [0-9.]+ (bytes|KiB|MiB) has not completed after "
                                             rf"[0-9.]+ s: another rank stopped making progress or died "
                                             rf"\(--comm-timeout {TIMEOUT}\.0 s\)$")

    def test_the_other_mpi_commands_end_after_the_timeout_too(self):
        # kmeans, pca and bench-comm start their ranks as train does (launch::runCommand).
        long_runs = {
            "kmeans": (["--data", "synthetic:300000:64", "-k", "100", "--algorithm", "lloyd",
                        "--tolerance", "0"], "k-means|| round"),
            "bench-comm": (["-b", "16M", "-e", "16M", "-n", "1000000"], "# ringtrain bench-comm"),
        }
        for program, (args, started_line) in long_runs.items():
            with self.subTest(program=program):
                out = self.path(program)
                stdout_path = self.path(program + ".out")
                flags = [program, "--output-dir", out, "--threads", "1", "--comm-timeout", str(TIMEOUT)] + args
                if program == "bench-comm":
                    flags[1:3] = ["--json", os.path.join(self.dir, "bench.json")]
                with open(stdout_path, "w") as stdout:
                    job = subprocess.Popen(command(flags, ranks=2), stdout=stdout, stderr=subprocess.PIPE, text=True)
                self.addCleanup(self.end, job)
                deadline = time.monotonic() + 120
                while job.poll() is None and time.monotonic() < deadline:
                    with open(stdout_path) as f:
                        if started_line in f.read():
                            break
                    time.sleep(0.05)
                self.assertIsNone(job.poll(), job.stderr.read() if job.poll() is not None else "")
                pattern = f"{BIN} {program} {flags[1]} {flags[2]} "
                pids = [int(p) for p in subprocess.run(["pgrep", "-f", "^" + re.escape(pattern)],
                                                       capture_output=True, text=True).stdout.split()]
                self.assertEqual(len(pids), 2, pids)
                victim = pids[-1]  # rank 0 or 1: either way the other one reports
                started = time.monotonic()
                os.kill(victim, signal.SIGSTOP)
                self.addCleanup(kill_quietly, victim)
                _, stderr = job.communicate(timeout=TIMEOUT * 1.1 + 2 + 70)
                self.assertNotEqual(job.returncode, 0, stderr)
                self.assertLess(time.monotonic() - started, TIMEOUT * 1.1 + 2 + 10, stderr)
                self.assertRegex(stderr, rf"ringtrain {program}: error on rank \d \(\S+\): .* has not completed "
                                         rf"after [0-9.]+ s: another rank stopped making progress or died "
                                         rf"\(--comm-timeout {TIMEOUT}\.0 s\)")
                deadline = time.monotonic() + 10
                while any(os.path.exists(f"/proc/{pid}") and not self.zombie(pid) for pid in pids) \
                        and time.monotonic() < deadline:
                    time.sleep(0.1)
                self.assertEqual([pid for pid in pids if os.path.exists(f"/proc/{pid}") and not self.zombie(pid)],
                                 [], "ranks outlived the job")

    @staticmethod
    def end(job):
        """Whatever a failed check left running."""
        if job.poll() is None:
            job.terminate()  # mpirun passes it on to the ranks
            try:
                job.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                job.kill()
        job.communicate()


    @staticmethod
    def zombie(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    def test_a_zero_timeout_waits_as_long_as_it_takes(self):
        _, job, pids = self.start("patient", 2, DATA + ["--max-steps", "400", "--comm-timeout", "0"])
        os.kill(pids[1], signal.SIGSTOP)
        time.sleep(TIMEOUT + 2)
        os.kill(pids[1], signal.SIGCONT)
        _, stderr = job.communicate(timeout=120)
        self.assertEqual(job.returncode, 0, stderr)


if __name__ == "__main__":
    unittest.main()
