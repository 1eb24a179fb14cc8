"""What validation costs a language model: it runs in training-sized batches, so the default split of
a 5 MB corpus at context 128 needs no more memory than training; --val-every and --val-max-batches
bound how often and how much it scores."""
import json
import os
import unittest

import numpy as np

from ringtrain_testing import RingtrainTestCase, run

CONTEXT = 128
SMALL_GPT = ["--model", "gpt", "--layers", "1", "--width", "32", "--heads", "4", "--context", str(CONTEXT),
             "--optimizer", "adamw", "--lr", "1e-3", "--batch-size", "8", "--log-every", "1"]


def corpus(path, size):
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away", "home", "while", "it"]
    rng = np.random.default_rng(3)
    text = " ".join(words[i] for i in rng.integers(0, len(words), size=size // 3))
    with open(path, "w") as f:
        f.write(text[:size])


def records(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


class ValidationCost(RingtrainTestCase):
    def prepare(self, size):
        corpus(self.path("corpus.txt"), size)
        result = run(["prep", "--input", self.path("corpus.txt"), "--output", self.path("tokens")])
        self.assertEqual(result.returncode, 0, result.stderr)
        return self.path("tokens")

    def test_validating_a_5mb_corpus_needs_no_more_memory_than_training(self):
        tokens = self.prepare(5 * 1000 * 1000)
        flags = SMALL_GPT + ["--train", tokens, "--max-steps", "3"]
        alone = self.summary(self.train("alone", flags + ["--val", "none"], ranks=2))
        validated = self.summary(self.train("validated", flags, ranks=2))
        # The default split: 10% of the 39,062 windows (rounded up), all scored, in batches of
        # --batch-size.
        self.assertEqual(validated["val_samples"], 3907)
        self.assertIsNotNone(validated["val_loss"])
        self.assertLessEqual(validated["peak_rss_mib"], alone["peak_rss_mib"] + 16,
                             (validated["peak_rss_mib"], alone["peak_rss_mib"]))
        # The measurement sees evaluation: batches of 1,024 windows (what validation read before
        # it followed --batch-size) raise the peak far above training's.
        large = self.summary(self.train("large", flags + ["--eval-batch-size", "1024"], ranks=2))
        self.assertGreater(large["peak_rss_mib"], alone["peak_rss_mib"] + 100,
                           (large["peak_rss_mib"], alone["peak_rss_mib"]))
        self.assertAlmostEqual(large["val_loss"], validated["val_loss"], places=5)

    def test_val_every_and_val_max_batches_bound_each_validation(self):
        tokens = self.prepare(100 * 1000)
        out = self.train("bounded", SMALL_GPT + ["--train", tokens, "--max-steps", "5", "--val-every", "2",
                                                 "--val-max-batches", "3", "--eval-batch-size", "4"], ranks=2)
        validations = [record for record in records(out) if "val_loss" in record]
        # After steps 2 and 4, and after the last; each scores 3 batches of 4 windows on each rank.
        self.assertEqual([record["step"] for record in validations], [2, 4, 5])
        for record in validations:
            self.assertEqual(record["val_targets"], 2 * 3 * 4 * CONTEXT)
        summary = self.summary(out)
        self.assertEqual(summary["validated_at_step"], 5)
        self.assertEqual(summary["val_loss"], validations[-1]["val_loss"])
        settings = summary["settings"]
        self.assertEqual((settings["val_every"], settings["val_max_batches"], settings["eval_batch_size"]), (2, 3, 4))
        self.assertEqual(summary["val_targets"], 2 * 3 * 4 * CONTEXT)
        # A last step on the beat validates once; epoch ends do not validate in between.
        out = self.train("beat", SMALL_GPT + ["--train", tokens, "--epochs", "2", "--val-every", "30",
                                              "--val-max-batches", "1"], ranks=2)
        summary = self.summary(out)
        steps = summary["steps"]
        self.assertEqual(steps, 2 * -(-summary["train_samples"] // 16))  # 2 epochs of 2 ranks x 8
        self.assertEqual([record["step"] for record in records(out) if "val_loss" in record], [30, 60, steps])
        # Without a bound every validation window is scored, once an epoch.
        even = self.train("even", SMALL_GPT + ["--train", tokens, "--max-steps", "4", "--val-every", "2"], ranks=2)
        self.assertEqual([record["step"] for record in records(even) if "val_loss" in record], [2, 4])
        whole = self.train("whole", SMALL_GPT + ["--train", tokens, "--max-steps", "5"], ranks=2)
        validations = [record for record in records(whole) if "val_loss" in record]
        self.assertEqual(len(validations), 1)
        self.assertEqual(validations[0]["val_targets"], self.summary(whole)["val_samples"] * CONTEXT)

    def test_resuming_with_val_every_gives_the_uninterrupted_model(self):
        # Validation sets BatchNorm's statistics to their mean over the replicas, here three, and a
        # checkpoint falls on a validation step.
        with open(self.path("bn.json"), "w") as f:
            json.dump([{"type": "Linear", "out_features": 16}, {"type": "BatchNorm1d"}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": 4}], f)
        flags = ["--model-spec", self.path("bn.json"), "--train", "synthetic:900:8:4", "--batch-size", "10",
                 "--epochs", "2", "--val-every", "5", "--log-every", "1000"]
        whole = self.train("whole", flags, ranks=3)
        # 810 training samples / (3 x 10) = 27 steps an epoch, 54 in all: resumed at 50, near the end,
        # where a difference in the statistics has not yet decayed.
        self.train("stopped", flags + ["--max-steps", "50", "--checkpoint-every", "25"], ranks=3)
        self.train("stopped", flags, ranks=3)
        self.assertEqual(self.summary(self.path("stopped"))["resumed_at_step"], 50)
        with open(os.path.join(whole, "model.safetensors"), "rb") as a, \
                open(self.path("stopped", "model.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        # Another --val-every would average them at other steps: that checkpoint is not continued.
        self.train("partial", flags + ["--max-steps", "10", "--checkpoint-every", "10"], ranks=3)
        changed = [("7" if previous == "--val-every" else flag) for previous, flag in zip([None] + flags, flags)]
        result = run(["train", "--output-dir", self.path("partial"), "--progress", "off"] + changed, ranks=3)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("val_every", result.stderr)

    def test_bad_bounds_are_refused(self):
        for flag in ("--eval-batch-size", "--val-every", "--val-max-batches"):
            with self.subTest(flag):
                result = run(["train", "--output-dir", self.path("bad"), flag + "=-1"])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(flag + " must not be negative", result.stderr)


if __name__ == "__main__":
    unittest.main()
