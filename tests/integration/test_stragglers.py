"""A rank that holds the others back is named: on every metrics line (slowest_rank and its lag), in
summary.json (each rank's own time per step), and in a warning once it stays behind. The slow rank
here is slowed from outside, as a busy host slows one: pinned, with all its threads, to a core it
shares with five busy loops, while the other ranks share another core between them."""
import json
import os
import subprocess
import sys
import unittest

from ringtrain_testing import RingtrainTestCase, rank_pids

# Steps whose computation outweighs their communication (some 10 ms against a few): a rank short
# of CPU is slow in its own work, not only inside the collectives, which share its slowness out.
ARGS = ["--train", "synthetic:400000:64:4", "--val", "none", "--hidden", "512,512", "--batch-size", "256",
        "--epochs", "1", "--max-steps", "400", "--log-every", "10", "--overlap", "off"]
HOG = "while True: pass"


def metrics_lines(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if '"slowest_rank"' in line]


class Stragglers(RingtrainTestCase):
    def test_a_rank_slowed_down_is_named_slowest_and_warned_about(self):
        if len(os.sched_getaffinity(0)) < 2:
            self.skipTest("needs two cores to slow one rank down and not the others")
        out = self.path("slowed")
        # Pinned as soon as the ranks exist, well before their first log window.
        job, pids = self.start_training(out, ARGS, ranks=3, ready=lambda: len(rank_pids(out)) == 3)
        first, second = sorted(os.sched_getaffinity(0))[:2]
        hogs = [subprocess.Popen(["taskset", "-c", str(second), sys.executable, "-c", HOG]) for _ in range(5)]
        try:
            for rank, pid in enumerate(pids):
                core = second if rank == 1 else first
                subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(pid)], check=True,
                               capture_output=True)
            stdout, stderr = job.communicate(timeout=300)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        self.assertEqual(job.returncode, 0, stderr)
        lines = metrics_lines(out)
        self.assertGreater(len(lines), 20, stdout)
        named = [line["slowest_rank"] for line in lines[len(lines) // 4:]]
        self.assertGreater(named.count(1), 0.8 * len(named), named)
        self.assertIn("ringtrain: warning: rank 1 (", stderr)
        self.assertIn("has been the slowest rank for 3 log lines in a row", stderr)
        self.assertEqual(stderr.count("has been the slowest rank"), 1, stderr)
        times = self.summary(out)["rank_step_ms"]
        self.assertEqual(max(range(3), key=lambda rank: times["mean"][rank]), 1, times)
        self.assertTrue(all(low <= mean <= high for low, mean, high in zip(times["min"], times["mean"],
                                                                            times["max"])), times)
    def test_every_line_names_the_slowest_rank_and_one_rank_has_nothing_to_compare(self):
        out = self.train("alike", ARGS[:-6] + ["--max-steps", "200", "--log-every", "20"], ranks=2)
        lines = metrics_lines(out)
        self.assertEqual(len(lines), 10)
        self.assertTrue(all(line["slowest_rank"] in (0, 1) and line["slowest_rank_lag_ms"] >= 0 for line in lines))
        self.assertEqual(len(self.summary(out)["rank_step_ms"]["mean"]), 2)
        alone = self.train("alone", ARGS[:-6] + ["--max-steps", "40", "--log-every", "20"])
        self.assertEqual(metrics_lines(alone), [])
        self.assertIsNone(self.summary(alone)["rank_step_ms"])


if __name__ == "__main__":
    unittest.main()
