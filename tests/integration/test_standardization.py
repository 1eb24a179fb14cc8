"""Standardisation on real data: scikit-learn's handwritten digits (UCI), split so that a pixel
that is always 0 in the training rows is not always 0 in the validation rows. Such a feature gets a
scale of 1, as scikit-learn's StandardScaler gives it, so the validation loss stays a sane
cross-entropy; the statistics in model.safetensors are StandardScaler's, and PyTorch computes the
same validation loss from the model loaded through tools/spec_to_torch.py (as a module and as a
command). Model files of an earlier version are still scored as they were trained."""
import json
import os
import re
import subprocess
import sys
import unittest

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ringtrain_testing import RingtrainTestCase, run, write_csv

TOOLS = os.path.join(os.path.dirname(__file__), "..", "..", "tools")
sys.path.insert(0, TOOLS)
from spec_to_torch import load_model  # noqa: E402

# The built-in MLP (--hidden 512,256) as a spec, so that PyTorch can rebuild it.
MLP_SPEC = [{"type": "Linear", "out_features": 512}, {"type": "ReLU"},
            {"type": "Linear", "out_features": 256}, {"type": "ReLU"}, {"type": "Linear", "out_features": 10}]


def validation_epochs(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [entry for entry in map(json.loads, f) if "val_loss" in entry]


class DigitsStandardization(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        features, labels = load_digits(return_X_y=True)
        train, val = train_test_split(np.arange(len(labels)), test_size=357, random_state=0, stratify=labels)
        self.train_x, self.train_y = features[train].astype(np.float32), labels[train]
        self.val_x, self.val_y = features[val].astype(np.float32), labels[val]
        # What makes this data set the case in point; without it the test would prove nothing.
        unseen = [c for c in range(64) if self.train_x[:, c].std() == 0 and self.val_x[:, c].any()]
        self.assertTrue(unseen, "no pixel is constant in training and not in validation")
        write_csv(self.path("train.csv"), self.train_y, self.train_x)
        write_csv(self.path("val.csv"), self.val_y, self.val_x)
        self.data = ["--train", self.path("train.csv"), "--val", self.path("val.csv")]

    def test_validation_loss_is_a_sane_cross_entropy(self):
        out = self.train("digits", self.data + ["--epochs", "5", "--batch-size", "32"], ranks=2)
        epochs = validation_epochs(out)
        self.assertEqual(len(epochs), 5)
        for entry in epochs:
            self.assertTrue(np.isfinite(entry["val_loss"]), entry)
            if entry["val_accuracy"] > 0.95:
                self.assertLess(entry["val_loss"], 0.5, entry)
        self.assertGreater(epochs[-1]["val_accuracy"], 0.95)

    def test_stored_statistics_are_standard_scalers(self):
        out = self.train("digits", self.data + ["--max-steps", "1"])
        tensors = self.model(out)
        scaler = StandardScaler().fit(self.train_x.astype(np.float64))
        np.testing.assert_allclose(tensors["input_standardization.mean"], scaler.mean_, rtol=1e-6, atol=1e-6)
        n = len(self.train_x)
        constant = scaler.var_ == 0
        self.assertTrue(constant.any())
        # ringtrain's standard deviation is taken with n - 1, StandardScaler's with n.
        expected = np.where(constant, 1.0, scaler.scale_ * np.sqrt(n / (n - 1)))
        np.testing.assert_allclose(tensors["input_standardization.std"], expected, rtol=1e-6)

    def write_spec(self):
        spec = self.path("mlp.json")
        with open(spec, "w") as f:
            json.dump({"input_shape": [64], "layers": MLP_SPEC}, f)
        return spec

    def test_pytorch_computes_the_same_validation_loss(self):
        out = self.train("digits", self.data + ["--model-spec", self.write_spec(), "--epochs", "5", "--batch-size", "32"],
                         ranks=2)
        summary = self.summary(out)
        self.assertGreater(summary["val_accuracy"], 0.95)
        self.assertLess(summary["val_loss"], 0.5)

        model_file = os.path.join(out, "model.safetensors")
        model, standardize = load_model(model_file)
        with torch.no_grad():
            logits = model(standardize(torch.from_numpy(self.val_x)))
        loss = F.cross_entropy(logits, torch.from_numpy(self.val_y)).item()
        self.assertAlmostEqual(loss, summary["val_loss"], delta=1e-5 * max(1.0, loss))
        accuracy = (logits.argmax(1).numpy() == self.val_y).mean()
        self.assertAlmostEqual(accuracy, summary["val_accuracy"], places=9)

        # The command the docs show, run as a program, with the Python that has torch first on PATH.
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        scored = subprocess.run([os.path.join(TOOLS, "spec_to_torch.py"), model_file, "--data", self.path("val.csv")],
                                capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(scored.returncode, 0, scored.stderr)
        printed = re.search(r"samples=357 loss=([0-9.]+) accuracy=([0-9.]+)", scored.stdout)
        self.assertIsNotNone(printed, scored.stdout)
        self.assertAlmostEqual(float(printed.group(1)), summary["val_loss"], delta=1e-5 * max(1.0, loss))

    def test_a_model_file_of_an_earlier_version_scores_as_it_was_trained(self):
        # Earlier versions stored the standard deviation (0 for a constant feature) without the
        # metadata marker, and trained with it clamped to 1e-6: ringtrain eval and PyTorch both
        # still apply exactly that.
        out = self.train("digits", self.data + ["--model-spec", self.write_spec(), "--max-steps", "3"])
        current = os.path.join(out, "model.safetensors")
        with safe_open(current, "pt") as handle:
            metadata = dict(handle.metadata())
        tensors = load_file(current)
        self.assertEqual(metadata.pop("input_standardization"), "scale")
        constant = tensors["input_standardization.std"] == 1
        tensors["input_standardization.std"] = torch.where(constant, torch.zeros(()), tensors["input_standardization.std"])
        legacy = self.path("legacy.safetensors")
        save_file(tensors, legacy, metadata=metadata)

        model, standardize = load_model(legacy)
        scaled = standardize(torch.from_numpy(self.val_x))
        unseen = self.val_x[:, constant.numpy()] != 0
        self.assertTrue(unseen.any())
        self.assertGreater(scaled[:, constant].abs().max().item(), 1e5)
        with torch.no_grad():
            logits = model(scaled).numpy()
        predictions = self.path("legacy.npy")
        scored = run(["eval", "--model", legacy, "--data", self.path("val.csv"), "--predictions", predictions])
        self.assertEqual(scored.returncode, 0, scored.stderr)
        np.testing.assert_allclose(np.load(predictions), logits, rtol=1e-4, atol=1e-2)

        # A current file's scale is divided by as it is, however small.
        tensors = load_file(current)
        tensors["input_standardization.std"][5] = 1e-8
        tiny = self.path("tiny.safetensors")
        save_file(tensors, tiny, metadata=dict(metadata, input_standardization="scale"))
        _, standardize = load_model(tiny)
        rows = torch.from_numpy(self.val_x)
        expected = (rows[:, 5] - tensors["input_standardization.mean"][5]) / 1e-8
        torch.testing.assert_close(standardize(rows)[:, 5], expected)


if __name__ == "__main__":
    unittest.main()
