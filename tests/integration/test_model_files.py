"""Every model file ringtrain writes loads in PyTorch through tools/spec_to_torch.py: built-in
models (mlp, cnn, gpt, autoencoder) are written as their equivalent --model-spec network, with its
tensor names, and the logits PyTorch computes from the file equal `ringtrain eval --predictions`
(an autoencoder's codes equal `ringtrain predict`'s). `--max-steps 0` writes the model as
initialised, or as --init-from gave it, and validates it."""
import json
import os
import subprocess
import sys
import unittest

import numpy as np
import torch
from safetensors import safe_open

from ringtrain_testing import RingtrainTestCase, run, write_csv

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "spec_to_torch.py")
sys.path.insert(0, os.path.dirname(TOOL))
from spec_to_torch import load_model  # noqa: E402

CONTEXT = 16


class ModelFilesLoadInPyTorch(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(5)
        # 64 features: a table for the MLP, 8x8 images in rows for the CNN.
        self.features = rng.normal(size=(240, 64)).astype(np.float32) * 3 + 1
        self.labels = (self.features[:, :3].sum(1) > 3).astype(int) + (self.features[:, 5] > 1)
        write_csv(self.path("data.csv"), self.labels, self.features)
        words = ["the", "cat", "sat", "on", "a", "mat", "and", "ran", "home"]
        text = " ".join(words[i] for i in rng.integers(0, len(words), size=500))
        with open(self.path("text.txt"), "w") as f:
            f.write(text)
        self.assertEqual(run(["prep", "--input", self.path("text.txt"), "--output", self.path("tokens")]).returncode, 0)
        tokens = np.frombuffer(text.encode(), dtype=np.uint8).astype(np.float32)
        count = (len(tokens) - 1) // CONTEXT
        self.windows = np.stack([tokens[i * CONTEXT: (i + 1) * CONTEXT] for i in range(count)])

    def pytorch_logits(self, out, features):
        model, standardize = load_model(os.path.join(out, "model.safetensors"))
        with torch.no_grad():
            return model(standardize(torch.from_numpy(features))).numpy()

    def eval_logits(self, out, data, extra=()):
        predictions = self.path(os.path.basename(out) + "-predictions.npy")
        result = run(["eval", "--model", os.path.join(out, "model.safetensors"), "--data", data,
                      "--predictions", predictions] + list(extra))
        self.assertEqual(result.returncode, 0, result.stderr)
        return np.load(predictions)

    def test_each_built_in_model_loads_and_gives_evals_logits(self):
        table = ["--train", self.path("data.csv"), "--val", self.path("data.csv"), "--max-steps", "3",
                 "--batch-size", "32"]
        tokens = ["--train", self.path("tokens"), "--context", str(CONTEXT), "--max-steps", "3",
                  "--batch-size", "8"]
        cases = [("mlp", table + ["--hidden", "16,8"], self.path("data.csv"), self.features),
                 ("cnn", table + ["--model", "cnn", "--hidden", "12"], self.path("data.csv"), self.features),
                 ("gpt", tokens + ["--model", "gpt", "--layers", "2", "--width", "16", "--heads", "2"],
                  self.path("tokens"), self.windows)]
        for name, flags, data, features in cases:
            with self.subTest(model=name):
                out = self.train(name, flags, ranks=2)
                with safe_open(os.path.join(out, "model.safetensors"), "pt") as f:
                    metadata = f.metadata()
                self.assertEqual(metadata["model"], name)
                self.assertIn("network", metadata)
                # Only the settings the model uses.
                self.assertEqual("hidden" in metadata, name != "gpt")
                self.assertEqual("gpt" in metadata, name == "gpt")
                mine = self.pytorch_logits(out, features)
                if name == "gpt":
                    mine = mine[:, -1]  # eval's row per window: the prediction after it
                np.testing.assert_allclose(mine, self.eval_logits(out, data), rtol=1e-4, atol=1e-5)

    def test_an_autoencoders_codes_are_its_spec_networks(self):
        out = self.train("ae", ["--model", "autoencoder", "--train", self.path("data.csv"), "--hidden", "16",
                                "--code-size", "4", "--max-steps", "3", "--batch-size", "32"])
        model, standardize = load_model(os.path.join(out, "model.safetensors"))
        self.assertEqual([type(layer).__name__ for layer in model], ["Flatten"] + ["Linear", "ReLU"] * 3 + ["Linear"])
        # The tool scores classifiers only, and says so before reading the rows.
        refused = subprocess.run([sys.executable, TOOL, os.path.join(out, "model.safetensors"), "--data",
                                  self.path("data.csv")], capture_output=True, text=True, timeout=120)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("is not a classifier (model 'autoencoder')", refused.stderr)
        codes = self.path("codes.npy")
        result = run(["predict", "--model", os.path.join(out, "model.safetensors"), "--data", self.path("data.csv"),
                      "--label-column", "0", "--output", codes])
        self.assertEqual(result.returncode, 0, result.stderr)
        with torch.no_grad():
            expected = model[:5](standardize(torch.from_numpy(self.features))).numpy()  # through the code's ReLU
        np.testing.assert_allclose(np.load(codes), expected, rtol=1e-4, atol=1e-5)

    def test_max_steps_zero_writes_the_initial_model(self):
        flags = ["--train", self.path("data.csv"), "--hidden", "16,8", "--batch-size", "32"]
        trained = self.train("trained", flags + ["--max-steps", "5"])
        copied = self.train("copied", flags + ["--max-steps", "0", "--init-from",
                                               os.path.join(trained, "model.safetensors")], ranks=2)
        with open(os.path.join(copied, "model.safetensors"), "rb") as a, \
                open(os.path.join(trained, "model.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        summary = self.summary(copied)
        self.assertEqual(summary["steps"], 0)
        self.assertIsNone(summary["final_checkpoint"])
        self.assertFalse(os.path.exists(os.path.join(copied, "checkpoints")))
        # Validated as it stands: the held-out rows, scored as eval scores them.
        scores = self.path("scores.json")
        result = run(["eval", "--model", os.path.join(copied, "model.safetensors"), "--data", self.path("data.csv"),
                      "--split", "validation", "--output", scores])
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(scores) as f:
            self.assertAlmostEqual(json.load(f)["loss"], summary["val_loss"], places=5)
        # Without --init-from: the seed's initial weights, the same at any number of ranks.
        fresh = self.train("fresh", flags + ["--max-steps", "0"])
        again = self.train("again", flags + ["--max-steps", "0"], ranks=2)
        self.assertModelsClose(self.model(fresh), self.model(again), rtol=0, atol=0)
        # Recorded as given; a run that did not give it records null, as --max-steps 0 means no steps.
        self.assertEqual(self.summary(fresh)["settings"]["max_steps"], 0)
        self.assertIsNone(self.summary(self.train("epochs", flags + ["--epochs", "1"]))["settings"]["max_steps"])


if __name__ == "__main__":
    unittest.main()
