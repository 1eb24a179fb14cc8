"""A dead or frozen rank is found within seconds with default settings (heartbeats, every rank to
rank 0; --heartbeat-timeout 10 s), well before --comm-timeout (300 s): every rank exits non-zero
within the heartbeat timeout plus 5 s, and one report names the lost rank, its host, its pid and
the step and phase it last reported. Stopped from outside with real signals, at a random point of
training."""
import os
import random
import re
import signal
import subprocess
import time
import unittest

from ringtrain_testing import BIN, MPIRUN, RingtrainTestCase, kill_quietly, rank_pids

HEARTBEAT_TIMEOUT = 10  # the default
# Far longer than any test waits, and rank 0 never idle: it trains as the others do.
ARGS = ["--train", "synthetic:400000:32:4", "--val", "synthetic:200:32:4", "--hidden", "64",
        "--batch-size", "16", "--epochs", "20", "--log-every", "50", "--checkpoint-every", "300"]
REPORT = re.compile(r"^ringtrain train: error on rank (\d+) \((\S+)\): ending the job, ranks lost "
                    r"\(--heartbeat-timeout 10 s\):$")
LOST = re.compile(r"^  rank (\d+) \(host (\S+), pid (\d+)\) (stopped answering heartbeats ([0-9.]+) s ago "
                  r"\(frozen, or its host is gone\)|exited before the end \(killed, crashed, or ended by an error of its "
                  r"own\)); "
                  r"it last reported step (\d+), (waiting for data|forward|backward|optimizer step|checkpoint|"
                  r"evaluation)$")


class Liveness(RingtrainTestCase):
    def start(self, name, ranks=4, hosts=None):
        """Starts training and waits until it has logged a step; `hosts`: ranks per emulated host."""
        out = self.path(name)
        flags = ["train", "--output-dir", out, "--progress", "off", "--threads", "1"] + ARGS
        launch = [MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", str(ranks)]
        if hosts:
            # Each rank names its host (RINGTRAIN_HOST), as if `hosts` ranks ran on each machine.
            launch += ["sh", "-c", f'RINGTRAIN_HOST=host$((OMPI_COMM_WORLD_RANK / {hosts})) exec "$0" "$@"']
        job = subprocess.Popen(launch + [BIN] + flags, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(self.end, job)
        metrics = os.path.join(out, "metrics.jsonl")
        deadline = time.monotonic() + 120
        while not (os.path.exists(metrics) and os.path.getsize(metrics) > 0) and time.monotonic() < deadline \
                and job.poll() is None:
            time.sleep(0.05)
        self.assertIsNone(job.poll(), job.communicate()[1] if job.poll() is not None else "")
        pids = rank_pids(out)
        self.assertEqual(len(pids), ranks, pids)
        # A random point of a step, after a heartbeat has carried the step (one a second).
        time.sleep(random.uniform(1.2, 2.2))
        return out, job, pids

    def assertEndsNamingThem(self, job, pids, victims, how, started, second_hub=1):
        """The report comes from rank 0, or, when rank 0 is lost, from the second hub: the lowest rank
        on another host (rank 1 when all share one)."""
        _, stderr = job.communicate(timeout=HEARTBEAT_TIMEOUT + 60)
        elapsed = time.monotonic() - started
        self.assertNotEqual(job.returncode, 0, stderr)
        self.assertLess(elapsed, HEARTBEAT_TIMEOUT + 5, stderr)
        self.assertAllGone(pids, stderr)
        lines = stderr.splitlines()
        reports = [i for i, line in enumerate(lines) if REPORT.match(line)]
        self.assertEqual(len(reports), 1, stderr)
        lost = [LOST.match(line) for line in lines[reports[0] + 1:reports[0] + 1 + len(victims)]]
        self.assertTrue(all(lost), stderr)
        self.assertEqual([int(m.group(1)) for m in lost], victims, stderr)
        self.assertEqual([int(m.group(3)) for m in lost], [pids[v] for v in victims], stderr)
        for match in lost:
            self.assertIn("stopped answering" if how == "stop" else "exited before the end", match.group(4))
            self.assertGreaterEqual(int(match.group(6)), 1)
        reporter = int(REPORT.match(lines[reports[0]]).group(1))
        self.assertEqual(reporter, 0 if 0 not in victims else second_hub, stderr)
        return stderr, lost

    def test_a_frozen_rank_is_named_within_seconds(self):
        for victim in (random.choice([1, 2, 3]), 0):
            with self.subTest(stopped=victim):
                out, job, pids = self.start(f"stop-{victim}")
                started = time.monotonic()
                os.kill(pids[victim], signal.SIGSTOP)
                self.addCleanup(kill_quietly, pids[victim])
                _, lost = self.assertEndsNamingThem(job, pids, [victim], "stop", started)
                self.assertGreaterEqual(float(lost[0].group(5)), HEARTBEAT_TIMEOUT)
                self.assertGreaterEqual(time.monotonic() - started, HEARTBEAT_TIMEOUT - 1)

    def test_both_ranks_of_a_frozen_host_are_named(self):
        # Two emulated hosts of two ranks; either one freezes, rank 0's too: then rank 2, the hub on
        # the other host, reports.
        for host, victims in ((1, [2, 3]), (0, [0, 1])):
            with self.subTest(host=host):
                out, job, pids = self.start(f"host{host}-stopped", ranks=4, hosts=2)
                started = time.monotonic()
                for victim in victims:
                    os.kill(pids[victim], signal.SIGSTOP)
                    self.addCleanup(kill_quietly, pids[victim])
                _, lost = self.assertEndsNamingThem(job, pids, victims, "stop", started, second_hub=2)
                self.assertEqual([m.group(2) for m in lost], [f"host{host}"] * 2)

    def test_a_killed_rank_ends_the_job(self):
        for victim in (2, 0):
            with self.subTest(killed=victim):
                self.kill_and_check(victim)

    def kill_and_check(self, victim):
        out, job, pids = self.start(f"killed-{victim}")
        started = time.monotonic()
        os.kill(pids[victim], signal.SIGKILL)
        _, stderr = job.communicate(timeout=HEARTBEAT_TIMEOUT + 60)
        self.assertNotEqual(job.returncode, 0, stderr)
        self.assertLess(time.monotonic() - started, HEARTBEAT_TIMEOUT + 5, stderr)
        self.assertAllGone(pids, stderr)
        # The launcher sees its child die and may end the job before the heartbeats report:
        # either report names the rank and its pid.
        ours = re.search(rf"^  rank {victim} \(host \S+, pid {pids[victim]}\) exited before the end", stderr,
                         re.M)
        # (Open MPI 4.1 names the pid 0.)
        launchers = re.search(rf"process rank {victim} with PID \d+ on node \S+ exited on signal 9", stderr)
        self.assertTrue(ours or launchers, stderr)

    def test_a_pause_of_the_whole_job_is_no_failure(self):
        # Every rank stopped longer than the timeout, as a suspended machine is: each one's own
        # pause, held against nobody.
        out = self.path("paused")
        job, pids = self.start_training(out, ARGS[:-6] + ["--max-steps", "600", "--log-every", "50"], 3,
                                        lambda: os.path.exists(os.path.join(out, "metrics.jsonl")))
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(HEARTBEAT_TIMEOUT + 2)
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        _, stderr = job.communicate(timeout=300)
        self.assertEqual(job.returncode, 0, stderr)
        self.assertNotIn("ranks lost", stderr)

    def test_heartbeats_can_be_turned_off(self):
        out = self.path("off")
        job, pids = self.start_training(out, ARGS[:-6] + ["--max-steps", "300", "--heartbeat-timeout", "0"], 2,
                                        lambda: os.path.exists(os.path.join(out, "metrics.jsonl")))
        os.kill(pids[1], signal.SIGSTOP)
        time.sleep(HEARTBEAT_TIMEOUT + 3)
        os.kill(pids[1], signal.SIGCONT)
        _, stderr = job.communicate(timeout=300)
        self.assertEqual(job.returncode, 0, stderr)
        self.assertEqual(self.summary(out)["settings"]["heartbeat_timeout"], 0, stderr)

    def assertAllGone(self, pids, stderr):
        deadline = time.monotonic() + 10
        while any(self.alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual([pid for pid in pids if self.alive(pid)], [], f"ranks outlived the job:\n{stderr}")

    @staticmethod
    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False


    @staticmethod
    def end(job):
        if job.poll() is None:
            job.kill()
        job.communicate()


if __name__ == "__main__":
    unittest.main()
