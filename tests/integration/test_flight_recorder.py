"""The flight recorder: every rank keeps its recent communication calls and phases and writes them
(flight-recorder/rank-<r>.json in the run's directory) when the job ends badly. A rank stuck while
alive (a test-only hook stops it in backward of a given step, its heartbeats beating on) is named at
--comm-timeout by a verdict from a hub, with the step and the phase, while the others wait in a
bucket's allreduce; `ringtrain doctor` reads the records and says the same."""
import json
import os
import re
import signal
import subprocess
import time
import unittest

from ringtrain_testing import RingtrainTestCase, command, kill_quietly, run

TIMEOUT = 5
ARGS = ["--train", "synthetic:400000:32:4", "--val", "synthetic:200:32:4", "--hidden", "64", "--batch-size",
        "16", "--epochs", "20", "--log-every", "10", "--comm-timeout", str(TIMEOUT)]
VERDICT = re.compile(r"rank 2 \(host \S+, pid (\d+)\) stopped in backward of step 20, outside any communication "
                     r"call; ranks 0, 1 and 3 wait in (allreduce|reduce-scatter) #\d+ \(bucket \d+\) of step 20")


class FlightRecorder(RingtrainTestCase):
    def run_stuck(self, name, extra=()):
        out = self.path(name)
        flags = ["train", "--output-dir", out, "--progress", "off", "--threads", "1"] + ARGS + list(extra)
        env = dict(os.environ, RINGTRAIN_TEST_HANG_AT="2:20:backward")
        started = time.monotonic()
        result = subprocess.run(command(flags, ranks=4), capture_output=True, text=True, env=env, timeout=180)
        return out, result, time.monotonic() - started

    def test_a_rank_stuck_while_alive_is_named_at_the_comm_timeout(self):
        out, result, seconds = self.run_stuck("stuck")
        self.assertNotEqual(result.returncode, 0, result.stderr)
        self.assertLess(seconds, 60, result.stderr)
        reports = [line for line in result.stderr.splitlines() if "has not completed after" in line]
        self.assertEqual(len(reports), 1, result.stderr)
        self.assertTrue(reports[0].startswith("ringtrain train: error on rank 0 "), result.stderr)
        verdict = re.search(r"^  verdict: (.*)$", result.stderr, re.M)
        self.assertTrue(verdict, result.stderr)
        self.assertRegex(verdict.group(1), "^" + VERDICT.pattern + "$")
        self.assertIn(f"  flight records: {out}/flight-recorder (`ringtrain doctor {out}` reads them)",
                      result.stderr)
        # Every rank wrote its record: the one stuck too, told by heartbeats.
        folder = os.path.join(out, "flight-recorder")
        self.assertEqual(sorted(os.listdir(folder)), [f"rank-{r}.json" for r in range(4)])
        records = {}
        for r in range(4):
            with open(os.path.join(folder, f"rank-{r}.json")) as f:
                records[r] = json.load(f)
        self.assertEqual(records[0]["reason"], "communication timeout")
        self.assertEqual(records[2]["reason"], "ended by another rank's report")
        self.assertEqual((records[2]["step"], records[2]["phase"], records[2]["waiting"]), (20, "backward", None))
        for r in (0, 1, 3):
            self.assertEqual(records[r]["step"], 20)
            self.assertEqual(records[r]["waiting"]["label"].split()[0], "bucket")
            self.assertIsNone(records[r]["calls"][-1]["end_ns"])
        # Calls are numbered alike on every rank: the same collective, the same number.
        waiting = {(records[r]["waiting"]["communicator"], records[r]["waiting"]["sequence"]) for r in (0, 1, 3)}
        self.assertEqual(len(waiting), 1, records)
        self.assertTrue(any(p["phase"] == "backward" and p["step"] == 20 for p in records[2]["phases"]))
        # Read back after the fact: the same verdict.
        doctor = run(["doctor", out])
        self.assertEqual(doctor.returncode, 0, doctor.stderr)
        self.assertRegex(doctor.stdout.splitlines()[0], "^verdict: " + VERDICT.pattern + "$")
        self.assertEqual(len(doctor.stdout.splitlines()), 5, doctor.stdout)
        self.assertIn("  rank 2 (host ", doctor.stdout)

    def test_doctor_names_a_frozen_rank_that_left_no_record(self):
        out = self.path("frozen")
        job, pids = self.start_training(out, ARGS, 4, lambda: os.path.exists(os.path.join(out, "metrics.jsonl")))
        time.sleep(1.5)
        os.kill(pids[3], signal.SIGSTOP)
        self.addCleanup(kill_quietly, pids[3])
        _, stderr = job.communicate(timeout=120)
        self.assertNotEqual(job.returncode, 0, stderr)
        # At the timeout, rank 0 (a hub) has not heard rank 3 for seconds: named first.
        verdict = re.search(r"^  verdict: (.*)$", stderr, re.M)
        self.assertTrue(verdict, stderr)
        self.assertRegex(verdict.group(1).split(";")[0],
                         rf"^rank 3 \(host \S+, pid {pids[3]}\) .*, silent for [0-9.]+ s \(frozen\?\)$")
        # The records: rank 3 left none, or wrote one once the launcher woke it to end it; either
        # way rank 0's record says it heard nothing from it for seconds, and the verdict starts
        # with it.
        doctor = run(["doctor", os.path.join(out, "flight-recorder")])
        self.assertEqual(doctor.returncode, 0, doctor.stderr)
        first = doctor.stdout.splitlines()[0].split(";")[0]
        self.assertRegex(first, rf"^verdict: rank 3 \(host \S+, pid {pids[3]}\) .*, silent for [0-9.]+ s "
                                r"\(frozen\?\)$")

    def test_doctor_says_what_is_missing(self):
        empty = self.path("empty")
        os.makedirs(empty)
        result = run(["doctor", empty])
        self.assertEqual(result.returncode, 2)
        self.assertIn(f"no flight records (rank-<r>.json) in {empty}", result.stderr)
        with open(os.path.join(empty, "rank-0.json"), "w") as f:
            f.write("{}")
        result = run(["doctor", empty])
        self.assertEqual(result.returncode, 2)
        self.assertIn(f"{empty}/rank-0.json is not a ringtrain flight record", result.stderr)
        record = {"format": "ringtrain-flight-record", "rank": -1, "world_size": 2, "host": "a", "pid": 1,
                  "reason": "x", "step": 1, "phase": "forward", "waiting": None, "calls": [], "phases": []}
        with open(os.path.join(empty, "rank-0.json"), "w") as f:
            json.dump(record, f)
        result = run(["doctor", empty])
        self.assertEqual(result.returncode, 2)
        self.assertIn(f"{empty}/rank-0.json names rank -1 of a world of 2", result.stderr)



if __name__ == "__main__":
    unittest.main()
