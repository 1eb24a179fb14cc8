"""`--tensorboard DIR`: rank 0 writes TensorBoard event files of every number of metrics.jsonl's
step and validation records.
Read back with the `tensorboard` package's own reader (which checks every record's CRC), each scalar
equals the metrics.jsonl value it came from, at its step; a resumed run's files make one curve, as
metrics.jsonl does; a SageMaker job writes to /opt/ml/output/tensorboard by itself."""
import json
import os
import unittest

from ringtrain_testing import RingtrainTestCase, run

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError:  # scripts/setup.sh installs it
    EventAccumulator = None

ARGS = ["--train", "synthetic:2000:32:4", "--val", "synthetic:200:32:4", "--hidden", "64", "--batch-size", "32",
        "--log-every", "10", "--precision", "fp16"]


def metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def scalars(directory):
    accumulator = EventAccumulator(directory, size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: {event.step: event.value for event in accumulator.Scalars(tag)}
            for tag in accumulator.Tags()["scalars"]}


def expected(records):
    """{tag: {step: value}} of every number in the records but their step; events (a resume) are
    not figures."""
    wanted = {}
    for record in records:
        if "event" in record:
            continue
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                wanted.setdefault(key, {})[record["step"]] = value
    return wanted


@unittest.skipIf(EventAccumulator is None, "the tensorboard package is missing (scripts/setup.sh installs it)")
class TensorBoard(RingtrainTestCase):
    def assertSameFigures(self, out, board):
        wanted = expected(metrics(out))
        found = scalars(board)
        self.assertEqual(sorted(found), sorted(wanted))
        for tag, by_step in wanted.items():
            with self.subTest(tag=tag):
                self.assertEqual(sorted(found[tag]), sorted(by_step))
                for step, value in by_step.items():
                    # Stored as 32-bit floats.
                    self.assertAlmostEqual(found[tag][step], value, delta=1e-6 * max(1.0, abs(value)))

    def test_every_figure_of_metrics_jsonl_is_a_scalar(self):
        out = self.train("run", ARGS + ["--epochs", "2", "--tensorboard", "tb"], ranks=2)
        wanted = expected(metrics(out))
        for tag in ("loss", "lr", "grad_norm", "step_ms", "samples_per_sec", "comm_share", "loss_scale", "mem_mib",
                    "val_loss", "val_accuracy"):
            self.assertIn(tag, wanted)
        self.assertSameFigures(out, os.path.join(out, "tb"))
        with open(os.path.join(out, "summary.json")) as f:
            self.assertEqual(json.load(f)["settings"]["tensorboard"], "tb")

    def test_a_resumed_run_continues_the_curve(self):
        board = self.path("board")
        out = self.train("run", ARGS + ["--max-steps", "40", "--checkpoint-every", "20", "--tensorboard", board])
        self.train("run", ARGS + ["--max-steps", "80", "--tensorboard", board])
        self.assertEqual(len([f for f in os.listdir(board) if "tfevents" in f]), 2)
        self.assertSameFigures(out, board)
        self.assertEqual(max(scalars(board)["loss"]), 80)

    def test_a_run_resumed_from_an_earlier_checkpoint_drops_what_came_after_it(self):
        # TensorBoard's Python loader honours the session start a resumed run's file begins with.
        board = self.path("board")
        out = self.train("run", ARGS + ["--max-steps", "40", "--checkpoint-every", "20", "--tensorboard", board])
        checkpoint = os.path.join(out, "checkpoints", "step-000000020")
        self.assertTrue(os.path.isdir(checkpoint))
        self.train("run", ARGS + ["--max-steps", "30", "--resume", checkpoint, "--tensorboard", board])
        self.assertEqual(max(r["step"] for r in metrics(out)), 30)
        self.assertSameFigures(out, board)

    def test_a_directory_that_cannot_be_made_is_named(self):
        blocker = self.path("file")
        with open(blocker, "w") as f:
            f.write("not a directory")
        result = run(["train", "--output-dir", self.path("out"), "--progress", "off", "--tensorboard",
                      os.path.join(blocker, "tb")] + ARGS + ["--epochs", "1"])
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"--tensorboard: cannot create {blocker}/tb", result.stderr)


if __name__ == "__main__":
    unittest.main()
