"""--model-spec: networks described in JSON train bit-identically to the built-in models they
describe, in data-parallel and pipeline mode; tools/spec_to_torch.py rebuilds them in PyTorch
with the predictions `ringtrain eval` makes; malformed specs are refused naming the layer."""
import json
import os
import sys
import unittest

import numpy as np
import torch

from ringtrain_testing import RingtrainTestCase, run, write_csv

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from spec_to_torch import build, load_model  # noqa: E402

SHORT = ["--max-steps", "10", "--log-every", "2", "--batch-size", "32"]


def mlp_spec(hidden, classes):
    layers = [{"type": "Flatten"}]
    for width in hidden:
        layers += [{"type": "Linear", "out_features": width}, {"type": "ReLU"}]
    return layers + [{"type": "Linear", "out_features": classes}]


def cnn_spec(side, hidden, classes):
    # The built-in CNN (src/models/Cnn.cpp) on flat samples of side x side features.
    return [{"type": "Unflatten", "dim": 1, "unflattened_size": [1, side, side]},
            {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
            {"type": "MaxPool2d", "kernel_size": 2},
            {"type": "Conv2d", "in_channels": 16, "out_channels": 32, "kernel_size": [3, 3], "padding": 1},
            {"type": "ReLU"}, {"type": "AdaptiveAvgPool2d", "output_size": 4}, {"type": "Flatten"}] + \
        mlp_spec(hidden, classes)[1:]


def losses(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [entry["loss"] for entry in map(json.loads, f) if "loss" in entry]


class ModelSpec(RingtrainTestCase):
    def write_spec(self, name, spec):
        path = self.path(name)
        with open(path, "w") as f:
            json.dump(spec, f, indent=1)
        return path

    def assertSameTraining(self, spec_out, builtin_out):
        """Bit-identical losses and weights: the spec's tensors in layer order are the built-in's
        (whose file names them as the built-in model's own equivalent spec does)."""
        self.assertEqual(losses(spec_out), losses(builtin_out))
        self.assertGreaterEqual(len(losses(spec_out)), 3)
        mine, theirs = self.model(spec_out), self.model(builtin_out)

        def in_order(model):
            return sorted(model, key=lambda name: (int(name.split(".")[0]), name.endswith("bias")))

        self.assertEqual(len(mine), len(theirs))
        for spec_name, builtin_name in zip(in_order(mine), in_order(theirs)):
            np.testing.assert_array_equal(mine[spec_name], theirs[builtin_name], err_msg=spec_name)
        self.assertEqual(self.summary(spec_out)["val_accuracy"], self.summary(builtin_out)["val_accuracy"])

    def test_mlp_spec_trains_bit_identically_to_the_builtin_mlp(self):
        data = ["--train", "synthetic:1200:20:4"] + SHORT
        spec = self.write_spec("mlp.json", {"layers": mlp_spec([24, 16], 4)})
        builtin = self.train("builtin", data + ["--hidden", "24,16"], ranks=2)
        described = self.train("spec", data + ["--model-spec", spec], ranks=2)
        self.assertSameTraining(described, builtin)
        self.assertEqual(self.summary(described)["model"], "spec")

    def test_cnn_spec_trains_bit_identically_to_the_builtin_cnn(self):
        data = ["--train", "synthetic:600:64:3", "--max-steps", "6", "--log-every", "2", "--batch-size", "16"]
        spec = self.write_spec("cnn.json", cnn_spec(8, [20], 3))
        builtin = self.train("builtin", data + ["--model", "cnn", "--hidden", "20"], ranks=2)
        described = self.train("spec", data + ["--model-spec", spec], ranks=2)
        self.assertSameTraining(described, builtin)

    def test_pipeline_of_a_spec_trains_like_data_parallel(self):
        data = ["--train", "synthetic:1200:20:4", "--drop-last"] + SHORT
        spec = self.write_spec("mlp.json", mlp_spec([24, 16, 12], 4))
        reference = self.train("dp", data + ["--model-spec", spec])
        piped = self.train("pp", data + ["--model-spec", spec, "--pipeline-stages", "2"], ranks=2)
        self.assertModelsClose(self.model(piped), self.model(reference), rtol=1e-4, atol=1e-6)
        self.assertEqual(sum(self.summary(piped)["pipeline"]["layers_per_stage"]), 4)

    def test_eval_and_pytorch_make_the_same_predictions(self):
        # A table (standardised by training) through BatchNorm, Dropout, LayerNorm and GELU.
        generator = np.random.default_rng(3)
        features = generator.normal(5.0, 3.0, size=(700, 12)).astype(np.float32)
        labels = (features[:, 0] + features[:, 1] > 10).astype(int) + (features[:, 2] > 5)
        write_csv(self.path("train.csv"), labels[:500], features[:500])
        write_csv(self.path("val.csv"), labels[500:], features[500:])
        spec = self.write_spec("net.json", {"input_shape": [12], "layers": [
            {"type": "Linear", "in_features": 12, "out_features": 32}, {"type": "BatchNorm1d"},
            {"type": "GELU"}, {"type": "Dropout", "p": 0.1},
            {"type": "Linear", "out_features": 16}, {"type": "LayerNorm"}, {"type": "Tanh"},
            {"type": "Linear", "out_features": 3}]})
        out = self.train("bn", ["--train", self.path("train.csv"), "--val", self.path("val.csv"),
                                "--model-spec", spec, "--epochs", "3", "--batch-size", "25"], ranks=2)
        tensors = self.model(out)
        self.assertIn("1.running_mean", tensors)
        self.assertIn("input_standardization.mean", tensors)

        predictions = self.path("eval.npy")
        scored = run(["eval", "--model", os.path.join(out, "model.safetensors"), "--data", self.path("val.csv"),
                      "--predictions", predictions, "--output", self.path("eval.json")])
        self.assertEqual(scored.returncode, 0, scored.stderr)
        self.assertIn("eval: done: samples=200", scored.stdout)
        with open(self.path("eval.json")) as f:
            scores = json.load(f)
        # Training's last evaluation saw the same samples with the same (averaged) statistics.
        self.assertAlmostEqual(scores["accuracy"], self.summary(out)["val_accuracy"], places=9)
        self.assertAlmostEqual(scores["loss"], self.summary(out)["val_loss"], places=5)

        model, standardize = load_model(os.path.join(out, "model.safetensors"))
        with torch.no_grad():
            logits = model(standardize(torch.from_numpy(features[500:]))).numpy()
        ours = np.load(predictions)
        self.assertEqual(ours.shape, (200, 3))
        np.testing.assert_allclose(logits, ours, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(logits.argmax(1), ours.argmax(1))

    def test_transformer_spec_trains_in_both_modes_and_matches_pytorch(self):
        # Token windows: the label is the first token, which attention has to carry to the end.
        generator = np.random.default_rng(5)
        windows = generator.integers(0, 12, size=(600, 8))
        write_csv(self.path("tokens.csv"), windows[:, 0], windows)
        spec = self.write_spec("gpt.json", [
            {"type": "Embedding", "num_embeddings": 12, "embedding_dim": 16},
            {"type": "PositionalEmbedding"},
            {"type": "TransformerBlock", "heads": 2}, {"type": "TransformerBlock", "heads": 4, "mlp_width": 24},
            {"type": "LayerNorm"}, {"type": "SelectToken", "index": -1},
            {"type": "Linear", "out_features": 12}])
        common = ["--train", self.path("tokens.csv"), "--normalize", "none", "--num-classes", "12",
                  "--model-spec", spec, "--drop-last"] + SHORT
        data_parallel = self.train("dp", common + ["--optimizer", "adamw", "--lr", "0.003"], ranks=2)
        self.assertLess(losses(data_parallel)[-1], losses(data_parallel)[0])
        # SGD: AdamW would magnify rounding in gradients that are nearly zero (the key biases).
        reference = self.train("one", common + ["--batch-size", "64"])
        piped = self.train("pp", common + ["--batch-size", "64", "--pipeline-stages", "2"], ranks=2)
        self.assertModelsClose(self.model(piped), self.model(reference), rtol=1e-4, atol=1e-6)

        predictions = self.path("eval.npy")
        scored = run(["eval", "--model", os.path.join(data_parallel, "model.safetensors"), "--data",
                      self.path("tokens.csv"), "--predictions", predictions])
        self.assertEqual(scored.returncode, 0, scored.stderr)
        model, standardize = load_model(os.path.join(data_parallel, "model.safetensors"))
        with torch.no_grad():
            logits = model(standardize(torch.from_numpy(windows.astype(np.float32)))).numpy()
        np.testing.assert_allclose(logits, np.load(predictions), rtol=1e-4, atol=1e-5)

    def test_spec_to_torch_names_tensors_as_ringtrain_does(self):
        out = self.train("mlp", ["--train", "synthetic:400:10:3", "--max-steps", "2",
                                 "--model-spec", self.write_spec("mlp.json", mlp_spec([8], 3))])
        model = build(mlp_spec([8], 3), [10])
        self.assertEqual(sorted(model.state_dict()), sorted(self.model(out)))

    def test_malformed_specs_are_refused_naming_the_layer(self):
        cases = {
            "unknown layer": ([{"type": "Flatten"}, {"type": "Conv3d", "out_channels": 2}],
                              'layer 1: unknown type "Conv3d"'),
            "shape mismatch": ([{"type": "Linear", "in_features": 7, "out_features": 4}],
                               "layer 0 (Linear): in_features is 7 but its input [20] has 20"),
            "image layer on flat samples": ([{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}],
                                            "layer 0 (Conv2d): needs a [channels, height, width] input"),
            "wrong output": ([{"type": "Linear", "out_features": 5, "name": "head"}],
                             "layer 0 'head' (Linear): the network's output is [5] per sample but the data has 4"),
            "unknown field": ([{"type": "Linear", "out_feature": 4}], 'layer 0 (Linear): needs "out_features"'),
            "typo in an optional field": ([{"type": "Linear", "out_features": 4, "biass": False}],
                                          'layer 0 (Linear): unknown field "biass"'),
            "bad value": ([{"type": "Dropout", "p": 2}, {"type": "Linear", "out_features": 4}],
                          'layer 0 (Dropout): "p" must be a number in [0, 1]'),
        }
        for name, (layers, message) in cases.items():
            with self.subTest(name):
                spec = self.write_spec("bad.json", layers)
                result = run(["train", "--train", "synthetic:200:20:4", "--model-spec", spec, "--max-steps", "1",
                              "--output-dir", self.path("bad")], ranks=2, timeout=120)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(f"--model-spec {spec}: {message}", result.stderr)
        with open(self.path("broken.json"), "w") as f:
            f.write('[\n  {"type": "Linear",\n   "out_features": 4,,}\n]\n')
        result = run(["train", "--train", "synthetic:200:20:4", "--model-spec", self.path("broken.json"),
                      "--output-dir", self.path("bad")], ranks=2, timeout=120)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"--model-spec {self.path('broken.json')}: not valid JSON at line 3", result.stderr)
        missing = run(["train", "--model-spec", self.path("nowhere.json"), "--output-dir", self.path("bad")])
        self.assertEqual(missing.returncode, 2)
        self.assertIn("--model-spec: cannot read", missing.stderr)
        both = run(["train", "--model", "cnn", "--model-spec", self.path("broken.json")])
        self.assertEqual(both.returncode, 2)
        self.assertIn("drop --model", both.stderr)


if __name__ == "__main__":
    unittest.main()
