"""`--trace FILE --trace-steps A:B`: one Chrome/Perfetto trace of a window of steps for all ranks,
merged on rank 0. Each rank is a process; its steps, their phases and its communication calls are
slices; each bucket's allreduce carries its bytes, and a step's buckets add up to the model's
parameters (read from model.safetensors, not from ringtrain's own figures)."""
import json
import os
import struct
import unittest

from ringtrain_testing import RingtrainTestCase, run

# Every parameter tensor a multiple of 64 bytes, so that the buckets' alignment of their entries
# adds no bytes: a step's allreduces then carry exactly the model's parameters.
ARGS = ["--train", "synthetic:2000:32:16", "--val", "none", "--hidden", "64,48", "--batch-size", "32",
        "--epochs", "1", "--bucket-mb", "0.005", "--log-every", "5"]


def parameter_bytes(model_path):
    with open(model_path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return sum(end - start for name, entry in header.items() if name != "__metadata__"
               for start, end in [entry["data_offsets"]])


def process_of(trace, rank):
    """The trace's process of a rank, found by its name."""
    for e in trace["traceEvents"]:
        if e["ph"] == "M" and e["name"] == "process_name" and e["args"]["name"].startswith(f"rank {rank} ("):
            return e["pid"]
    raise AssertionError(f"no process for rank {rank}")


def slices(trace, rank, category=None):
    pid = process_of(trace, rank)
    return [e for e in trace["traceEvents"]
            if e["ph"] == "X" and e["pid"] == pid and (category is None or e["cat"] == category)]


class Trace(RingtrainTestCase):
    def traced(self, name, extra, ranks=2):
        out = self.path(name)
        result = run(["train", "--output-dir", out, "--progress", "off", "--threads", "1"] + ARGS + extra,
                     ranks=ranks)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return out, result.stdout + result.stderr

    def test_two_ranks_trace_has_each_rank_its_phases_and_every_buckets_allreduce(self):
        out, log = self.traced("dp", ["--trace", "timeline.json", "--trace-steps", "3:5"])
        path = os.path.join(out, "timeline.json")
        self.assertIn(f"trace of steps 3-5 on 2 ranks: {path} (open it in https://ui.perfetto.dev or "
                      "chrome://tracing)", log)
        with open(path) as f:
            trace = json.load(f)
        self.assertEqual(trace["otherData"]["ringtrain"], {"steps": [3, 5], "world_size": 2, "ranks_missing": 0,
                                                           "calls_lost": 0, "phases_lost": 0})
        processes = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"]
                     if e["ph"] == "M" and e["name"] == "process_name"}
        # Process 0 is special to the viewers: rank R is process R + 1.
        self.assertEqual(sorted(processes), [1, 2])
        self.assertRegex(processes[2], r"^rank 1 \(\S+, pid \d+\)$")
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        self.assertEqual((summary["settings"]["trace"], summary["settings"]["trace_steps"]), ("timeline.json", [3, 5]))
        buckets = summary["gradient_buckets"]
        self.assertGreater(buckets, 1)
        model_bytes = parameter_bytes(os.path.join(out, "model.safetensors"))
        collectives = {}
        for rank in (0, 1):
            steps = [e["name"] for e in slices(trace, rank, "step")]
            self.assertEqual(steps, ["step 3", "step 4", "step 5"])
            for step in (3, 4, 5):
                with self.subTest(rank=rank, step=step):
                    phases = {e["name"] for e in slices(trace, rank, "phase") if e["args"]["step"] == step}
                    self.assertLessEqual({"waiting for data", "forward", "backward", "optimizer step"}, phases)
                    reduces = [e for e in slices(trace, rank, "communication")
                               if e["args"].get("step") == step and "bucket" in e["args"]]
                    self.assertEqual(sorted(e["args"]["bucket"] for e in reduces), list(range(buckets)))
                    for e in reduces:
                        self.assertEqual(e["name"], f"allreduce bucket {e['args']['bucket']}")
                        self.assertGreater(e["dur"], 0)
                    self.assertEqual(sum(e["args"]["bytes"] for e in reduces), model_bytes)
                    collectives[rank, step] = {(e["args"]["communicator"], e["args"]["sequence"], e["name"])
                                               for e in reduces}
            # Slices of a track nest or follow one another, in whole nanoseconds as the viewers round
            # them: what they draw without complaint.
            by_track = {}
            for e in slices(trace, rank):
                start, length = round(e["ts"] * 1000), round(e["dur"] * 1000)
                by_track.setdefault(e["tid"], []).append((start, -length, start + length, e["name"], e["args"]))
            for track in by_track.values():
                open_slices = []
                for start, _, end, name, args in sorted(track, key=lambda s: s[:3]):
                    while open_slices and open_slices[-1][0] <= start:
                        open_slices.pop()
                    if open_slices:
                        self.assertLessEqual(end, open_slices[-1][0],
                                             f"{name} {args} [{start}, {end}] straddles {open_slices[-1]}")
                    open_slices.append((end, name, args, start))
        # The same collective has the same number on both ranks.
        for step in (3, 4, 5):
            self.assertEqual(collectives[0, step], collectives[1, step])

    def test_a_window_past_the_run_writes_nothing_and_says_so(self):
        out, log = self.traced("past", ["--trace", "t.json", "--trace-steps", "500:600"], ranks=1)
        self.assertIn("--trace: steps 500-600 lie outside the steps this run trains (steps 1-63), so no "
                      "trace is written", log)
        self.assertFalse(os.path.exists(os.path.join(out, "t.json")))

    def test_the_default_window_and_an_absolute_path(self):
        path = self.path("elsewhere", "trace.json")
        self.traced("default", ["--trace", path, "--max-steps", "8"], ranks=1)
        with open(path) as f:
            trace = json.load(f)
        self.assertEqual(trace["otherData"]["ringtrain"]["steps"], [2, 5])

    def test_a_pipeline_trace_shows_the_stages_passing_activations(self):
        out, _ = self.traced("pipe", ["--trace", "t.json", "--trace-steps", "2", "--pipeline-stages", "2"])
        with open(os.path.join(out, "t.json")) as f:
            trace = json.load(f)
        for rank in (0, 1):
            names = {e["name"] for e in slices(trace, rank, "communication")}
            self.assertTrue(any(name.startswith(("send", "receive", "point-to-point")) for name in names), names)
        self.assertEqual([e["name"] for e in slices(trace, 1, "step")], ["step 2"])

    def test_the_evaluation_after_an_epoch_is_in_its_last_step(self):
        # 2000 samples in global batches of 64: 32 steps an epoch, validated after each.
        out, _ = self.traced("epochs", ["--trace", "t.json", "--trace-steps", "31:33", "--epochs", "2",
                                        "--val", "synthetic:200:32:16"])
        with open(os.path.join(out, "t.json")) as f:
            trace = json.load(f)
        for rank in (0, 1):
            phases = {}
            for e in slices(trace, rank, "phase"):
                phases.setdefault(e["args"]["step"], []).append(e["name"])
            self.assertEqual(sorted(phases), [31, 32, 33])
            self.assertEqual(phases[32][-1], "evaluation", phases)
            self.assertEqual(phases[33][0], "waiting for data", phases)
            self.assertNotIn("evaluation", phases[33], phases)
            self.assertEqual(phases[33].count("waiting for data"), 1, phases)

    def test_a_window_long_after_the_rings_wrapped(self):
        # About 3 calls a step: the flight recorder's rings of 1024 have wrapped by step 370.
        out, log = self.traced("late", ["--trace", "t.json", "--trace-steps", "370:372", "--epochs", "12"])
        with open(os.path.join(out, "t.json")) as f:
            trace = json.load(f)
        self.assertEqual(trace["otherData"]["ringtrain"]["calls_lost"], 0)
        self.assertNotIn("the trace lacks", log)
        for rank in (0, 1):
            self.assertEqual([e["name"] for e in slices(trace, rank, "step")], ["step 370", "step 371", "step 372"])
            reduces = [e for e in slices(trace, rank, "communication") if e["name"].startswith("allreduce bucket")]
            self.assertEqual({e["args"]["step"] for e in reduces}, {370, 371, 372})

    def test_the_runs_own_files_are_refused(self):
        for name in ("metrics.jsonl", "checkpoints/t.json", "./summary.json"):
            with self.subTest(name=name):
                result = run(["train", "--output-dir", self.path("own"), "--progress", "off", "--trace", name]
                             + ARGS, ranks=2)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(f"--trace {name} ", result.stderr)

    def test_trace_steps_without_trace_is_refused(self):
        result = run(["train", "--trace-steps", "2:3"] + ARGS)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("--trace-steps needs --trace FILE", result.stderr)


if __name__ == "__main__":
    unittest.main()
