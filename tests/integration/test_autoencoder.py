"""--model autoencoder: reconstruction loss against PyTorch, data-parallel and pipelined runs against
one process, and data without labels."""
import json
import os
import sys
import unittest

import numpy as np
import torch
from sklearn.datasets import load_digits

from ringtrain_testing import RingtrainTestCase, run, write_csv

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from spec_to_torch import load_model  # noqa: E402

# 720 samples divide into global batches of 24 at 1 and 2 ranks: every step sees the same samples.
DATA = ["--model", "autoencoder", "--train", "synthetic:720:16:4", "--val", "synthetic:200:16:4",
        "--hidden", "32", "--code-size", "6", "--epochs", "3", "--optimizer", "adamw", "--lr", "0.01",
        "--log-every", "10"]


def validation_losses(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [r["val_loss"] for r in map(json.loads, f) if "val_loss" in r]


class Autoencoder(RingtrainTestCase):
    def test_two_ranks_match_one_and_the_loss_falls(self):
        single = self.train("one", DATA + ["--batch-size", "24"])
        parallel = self.train("np2", DATA + ["--batch-size", "12"], ranks=2)
        self.assertModelsClose(self.model(parallel), self.model(single))
        np.testing.assert_allclose(validation_losses(parallel), validation_losses(single), rtol=1e-4)
        losses = validation_losses(single)
        self.assertEqual(len(losses), 3)
        self.assertTrue(all(later < earlier for earlier, later in zip(losses, losses[1:])), losses)
        summary = self.summary(parallel)
        self.assertEqual(summary["model"], "autoencoder")
        self.assertIsNone(summary["val_accuracy"])
        # Encoder 16 -> 32 -> 6, decoder 6 -> 32 -> 16, named as the equivalent spec (Flatten, then
        # Linear and ReLU pairs) names them.
        shapes = {name: tuple(t.shape) for name, t in self.model(single).items() if name.endswith("weight")}
        self.assertEqual(shapes, {"1.weight": (32, 16), "3.weight": (6, 32), "5.weight": (32, 6),
                                  "7.weight": (16, 32)})

    def test_pipeline_matches_one_process(self):
        single = self.train("one", DATA + ["--batch-size", "24"])
        piped = self.train("pipe", DATA + ["--batch-size", "24", "--pipeline-stages", "2",
                                           "--micro-batches", "4"], ranks=2)
        self.assertModelsClose(self.model(piped), self.model(single))
        self.assertEqual(self.summary(piped)["pipeline"]["stages"], 2)

    def test_reconstruction_error_is_pytorchs_mean_squared_error(self):
        features, labels = load_digits(return_X_y=True)
        write_csv(self.path("train.csv"), labels[:1500], features[:1500])
        write_csv(self.path("val.csv"), labels[1500:], features[1500:])
        out = self.train("digits", ["--model", "autoencoder", "--train", self.path("train.csv"),
                                    "--val", self.path("val.csv"), "--normalize", "none", "--hidden", "48",
                                    "--code-size", "10", "--epochs", "10", "--batch-size", "25",
                                    "--optimizer", "adamw", "--lr", "0.005"], ranks=2)
        network, _ = load_model(os.path.join(out, "model.safetensors"))
        self.assertEqual([type(layer).__name__ for layer in network],
                         ["Flatten"] + ["Linear", "ReLU"] * 3 + ["Linear"])
        validation = torch.tensor(features[1500:], dtype=torch.float32)
        with torch.no_grad():
            error = torch.nn.functional.mse_loss(network(validation), validation).item()
        summary = self.summary(out)
        self.assertAlmostEqual(summary["val_loss"] / error, 1, places=5)
        self.assertAlmostEqual(summary["val_metrics"]["reconstruction_error"] / error, 1, places=5)
        # Well below the error of reconstructing every image as the mean image (0.52 of it here).
        self.assertLess(summary["val_loss"], 0.7 * float(((validation - validation.mean(0)) ** 2).mean()))

    def test_data_without_labels(self):
        features, _ = load_digits(return_X_y=True)
        np.savetxt(self.path("pixels.csv"), features[:600], delimiter=",", fmt="%g")
        out = self.train("pixels", ["--model", "autoencoder", "--train", self.path("pixels.csv"),
                                    "--label-column", "none", "--hidden", "16", "--code-size", "4",
                                    "--epochs", "1", "--batch-size", "20"], ranks=2)
        self.assertEqual(self.model(out)["7.weight"].shape, (64, 16))  # the output layer
        # Labels of one class are fine for an autoencoder; eval, which scores classifiers, says
        # what the model is rather than failing to read it.
        self.assertEqual(self.summary(out)["model"], "autoencoder")
        scored = run(["eval", "--model", os.path.join(out, "model.safetensors"), "--data",
                      self.path("pixels.csv")])
        self.assertEqual(scored.returncode, 2, scored.stderr)
        self.assertIn("is an autoencoder", scored.stderr)


if __name__ == "__main__":
    unittest.main()
