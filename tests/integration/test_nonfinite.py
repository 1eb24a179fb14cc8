"""A step whose loss or gradients are not finite never reaches the weights: by default the run
stops with exit status 3 and writes nothing over the last good state; --on-nonfinite skip drops
that update and trains on."""
import os
import unittest

import numpy as np

from ringtrain_testing import RingtrainTestCase, run, write_csv

RANKS = 2
BATCH = 10
SAMPLES = 400
BAD_SAMPLE = 391  # in the last step of the epoch
# In order, with DistributedSampler's interleaving: sample k is rank k % RANKS's (k // RANKS)th.
BAD_STEP = (BAD_SAMPLE // RANKS) // BATCH + 1
STEPS = SAMPLES // (RANKS * BATCH)


class NonFinite(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(3)
        features = rng.normal(size=(SAMPLES, 16))
        labels = (features[:, 0] > 0).astype(int)
        features[BAD_SAMPLE, :] = 3e38  # overflows the first layer: an infinite logit, a NaN loss
        self.data = self.path("train.csv")
        write_csv(self.data, labels, features)
        write_csv(self.path("val.csv"), labels[:100], rng.normal(size=(100, 16)))

    def args(self, out, *extra):
        return ["train", "--output-dir", self.path(out), "--train", self.data, "--val", self.path("val.csv"),
                "--normalize", "none", "--hidden", "8", "--epochs", "1", "--batch-size", str(BATCH),
                "--no-shuffle", "--progress", "off", "--threads", "1"] + list(extra)

    def test_the_default_stops_with_the_step_named_and_the_last_good_state_kept(self):
        out = self.path("stop")
        os.makedirs(out)
        with open(os.path.join(out, "model.safetensors"), "wb") as f:
            f.write(b"an earlier model")
        # --resume none: a model without a checkpoint is otherwise refused, to keep it.
        result = run(self.args("stop", "--checkpoint-every", "10", "--resume", "none"), ranks=RANKS)
        self.assertEqual(result.returncode, 3, result.stderr)
        lines = [line for line in result.stderr.splitlines() if "training diverged" in line]
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn(f"non-finite loss (nan) at step {BAD_STEP} (epoch 1)", lines[0])
        self.assertIn(os.path.join(out, "checkpoints", "step-000000010"), lines[0])
        with open(os.path.join(out, "model.safetensors"), "rb") as f:
            self.assertEqual(f.read(), b"an earlier model")
        self.assertFalse(os.path.exists(os.path.join(out, "summary.json")))
        # The checkpoint before the bad step resumes, and meets the bad step again.
        again = run(self.args("stop", "--checkpoint-every", "10"), ranks=RANKS)
        self.assertEqual(again.returncode, 3, again.stderr)
        self.assertIn("resumed from", again.stdout)

    def test_skip_drops_exactly_that_update(self):
        result = run(self.args("skip", "--on-nonfinite", "skip"), ranks=RANKS)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"non-finite loss (nan) at step {BAD_STEP} (epoch 1); its update was skipped",
                      result.stderr)
        summary = self.summary(self.path("skip"))
        self.assertEqual(summary["skipped_steps"], 1)
        self.assertEqual(summary["steps"], STEPS)
        # The bad step is the last one, so skipping it leaves the model of a run that stops before.
        shorter = run(self.args("shorter", "--max-steps", str(BAD_STEP - 1)), ranks=RANKS)
        self.assertEqual(shorter.returncode, 0, shorter.stderr)
        with open(os.path.join(self.path("skip"), "model.safetensors"), "rb") as a, \
                open(os.path.join(self.path("shorter"), "model.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_skipping_gives_up_on_a_run_that_stays_diverged(self):
        result = run(self.args("diverged", "--on-nonfinite", "skip", "--lr", "1e30"), ranks=RANKS)
        self.assertEqual(result.returncode, 3, result.stderr)
        self.assertIn("after 10 skipped in a row", result.stderr)
        self.assertEqual(result.stderr.count("its update was skipped"), 10)


if __name__ == "__main__":
    unittest.main()
