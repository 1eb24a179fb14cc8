"""ringtrain predict on data without labels: a classifier's classes and probabilities, an
autoencoder's codes and k-means clusters, each against an independent reference (PyTorch on the
saved weights, scikit-learn's nearest centres), as .csv and .npy; and eval --split validation,
which scores exactly the rows training held out."""
import json
import os
import unittest

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
from sklearn.datasets import load_wine
from sklearn.metrics import pairwise_distances_argmin_min

from ringtrain_testing import RingtrainTestCase, run, write_csv


def standardized(model, features):
    mean = model["input_standardization.mean"].astype(np.float64)
    scale = model["input_standardization.std"].astype(np.float64)
    return torch.tensor((features - mean) / scale, dtype=torch.float32)


def dense_layers(model, x, layers):
    """The MLP's first `layers` hidden layers (ReLU after each), as PyTorch computes them. The file
    names them as the MLP's equivalent spec does: Flatten, then a Linear (1, 3, ...) and a ReLU
    for each."""
    for i in range(layers):
        x = torch.relu(torch.nn.functional.linear(x, torch.tensor(model[f"{2 * i + 1}.weight"]),
                                                  torch.tensor(model[f"{2 * i + 1}.bias"])))
    return x


def read_table(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    return header, np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


class PredictTestCase(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        self.features, self.labels = load_wine(return_X_y=True)
        self.labelled = self.path("wine.csv")
        write_csv(self.labelled, self.labels, self.features)
        # New data as a user has it: a header line, no label column.
        self.unlabelled = self.path("new.csv")
        with open(self.unlabelled, "w") as f:
            f.write(",".join(f"f{i}" for i in range(self.features.shape[1])) + "\n")
            for row in self.features:
                f.write(",".join(repr(float(v)) for v in row) + "\n")

    def predict(self, args):
        result = run(["predict"] + list(args))
        self.assertEqual(result.returncode, 0, f"{result.stdout}\n{result.stderr}")
        return result


class Classifier(PredictTestCase):
    def test_classes_and_probabilities_match_pytorch_on_the_saved_weights(self):
        out = self.train("mlp", ["--train", self.labelled, "--hidden", "16,8", "--epochs", "3", "--batch-size", "16"])
        model_path = os.path.join(out, "model.safetensors")
        table = self.path("p.csv")
        printed = self.predict(["--model", model_path, "--data", self.unlabelled, "--csv-header", "--output", table])
        self.assertIn(f"{len(self.features)} samples", printed.stdout)
        header, values = read_table(table)
        self.assertEqual(header, ["class", "p_0", "p_1", "p_2"])
        self.assertEqual(values.shape, (len(self.features), 4))

        model = load_file(model_path)
        with torch.no_grad():
            hidden = dense_layers(model, standardized(model, self.features), 2)
            logits = torch.nn.functional.linear(hidden, torch.tensor(model["5.weight"]),
                                                torch.tensor(model["5.bias"]))
            expected = torch.softmax(logits, 1).numpy()
        np.testing.assert_allclose(values[:, 1:], expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(values[:, 0], values[:, 1:].argmax(1))
        # A trained model, not an untrained one: most wine rows are classified right.
        self.assertGreater((values[:, 0] == self.labels).mean(), 0.9)

        # The same table as .npy, and from the labelled file with its label column named.
        array = self.path("p.npy")
        self.predict(["--model", model_path, "--data", self.labelled, "--label-column", "0", "--output", array])
        stored = np.load(array)
        self.assertEqual(stored.dtype, np.float32)
        np.testing.assert_array_equal(stored, values.astype(np.float32))

    def test_a_label_column_read_as_a_feature_is_named_in_the_error(self):
        out = self.train("mlp", ["--train", self.labelled, "--hidden", "8", "--epochs", "1"])
        result = run(["predict", "--model", os.path.join(out, "model.safetensors"), "--data", self.labelled,
                      "--output", self.path("p.csv")])
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("has samples of shape 14 but the model takes 13", result.stderr)
        self.assertIn("--label-column", result.stderr)
        self.assertFalse(os.path.exists(self.path("p.csv")))
        # Fewer columns than the model takes: no label column to blame.
        write_csv(self.path("narrow.csv"), self.labels, self.features[:, :11])
        result = run(["predict", "--model", os.path.join(out, "model.safetensors"), "--data", self.path("narrow.csv"),
                      "--output", self.path("p.csv")])
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("has samples of shape 12 but the model takes 13", result.stderr)
        self.assertNotIn("--label-column", result.stderr)

    def test_an_output_that_cannot_be_written_is_refused_before_any_work(self):
        for output, reason in ((self.path("p.txt"), ".csv"), (self.path("no", "p.csv"), "does not exist")):
            result = run(["predict", "--model", self.path("missing.safetensors"), "--data", self.unlabelled,
                          "--output", output])
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn("--output " + output, result.stderr)
            self.assertIn(reason, result.stderr)

    def test_files_that_are_not_models_are_named(self):
        result = run(["pca", "--data", self.unlabelled, "--csv-header", "--label-column", "none", "--output-dir",
                      self.path("pca"), "--threads", "1"])
        self.assertEqual(result.returncode, 0, result.stderr)
        for model, reason in ((self.path("pca", "pca.safetensors"), "principal components"),
                              (self.path("missing.safetensors"), "no such file"),
                              (self.unlabelled, "not a model file")):
            result = run(["predict", "--model", model, "--data", self.unlabelled, "--csv-header"], cwd=self.dir)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn(reason, result.stderr)


class Autoencoder(PredictTestCase):
    def test_codes_are_the_code_layer_of_the_saved_weights(self):
        out = self.train("ae", ["--model", "autoencoder", "--train", self.labelled, "--hidden", "8",
                                "--code-size", "3", "--epochs", "2", "--batch-size", "16"])
        model_path = os.path.join(out, "model.safetensors")
        table = self.path("codes.csv")
        self.predict(["--model", model_path, "--data", self.unlabelled, "--csv-header", "--output", table])
        header, values = read_table(table)
        self.assertEqual(header, ["code_0", "code_1", "code_2"])
        model = load_file(model_path)
        with torch.no_grad():
            expected = dense_layers(model, standardized(model, self.features), 2).numpy()
        np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-5)


class KMeansClusters(PredictTestCase):
    def test_rows_go_to_the_nearest_centre_as_scikit_learn_finds_it(self):
        out = self.path("kmeans")
        result = run(["kmeans", "--data", self.unlabelled, "--csv-header", "--label-column", "none", "-k", "3",
                      "--output-dir", out, "--threads", "1"])
        self.assertEqual(result.returncode, 0, result.stderr)
        table = self.path("clusters.npy")
        self.predict(["--model", os.path.join(out, "centres.safetensors"), "--data", self.unlabelled,
                      "--csv-header", "--output", table])
        values = np.load(table)
        centres = load_file(os.path.join(out, "centres.safetensors"))["centres"]
        nearest, distance = pairwise_distances_argmin_min(self.features.astype(np.float32), centres)
        np.testing.assert_array_equal(values[:, 0], nearest)
        # Squared distances of features near 1e3 in float32 (|x|^2 - 2 x.c + |c|^2): about 1e-7 of
        # |x|^2 ~ 1e6 apart.
        np.testing.assert_allclose(values[:, 1], distance.astype(np.float64) ** 2, rtol=1e-3, atol=1.0)
        # The sizes k-means reported are the sizes of the clusters predict assigns.
        sizes = load_file(os.path.join(out, "centres.safetensors"))["cluster_sizes"]
        np.testing.assert_array_equal(np.bincount(values[:, 0].astype(int), minlength=3), sizes)


class HeldOutSplit(PredictTestCase):
    def test_eval_of_the_held_out_split_reproduces_the_validation_of_training(self):
        out = self.train("mlp", ["--train", self.labelled, "--hidden", "16", "--epochs", "2",
                                 "--val-fraction", "0.25", "--seed", "7"])
        summary = self.summary(out)
        scores = self.path("scores.json")
        result = run(["eval", "--model", os.path.join(out, "model.safetensors"), "--data", self.labelled,
                      "--split", "validation", "--val-fraction", "0.25", "--seed", "7", "--output", scores])
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(scores) as f:
            scored = json.load(f)
        self.assertEqual(scored["samples"], summary["val_samples"])
        self.assertAlmostEqual(scored["accuracy"], summary["val_accuracy"], places=6)
        self.assertAlmostEqual(scored["loss"], summary["val_loss"], places=5)
        self.assertEqual(scored["split"], "validation")
        # The model file records the share and the seed: the flags may be left out, and a
        # contradiction is refused rather than scoring other rows.
        recorded = run(["eval", "--model", os.path.join(out, "model.safetensors"), "--data", self.labelled,
                        "--split", "validation", "--output", self.path("recorded.json")])
        self.assertEqual(recorded.returncode, 0, recorded.stderr)
        with open(self.path("recorded.json")) as f:
            recorded_scores = json.load(f)
        for key in ("samples", "loss", "accuracy"):
            self.assertEqual(recorded_scores[key], scored[key], key)
        # A file of an earlier version records neither: the flags are needed, and they suffice.
        legacy = self.path("legacy.safetensors")
        with safe_open(os.path.join(out, "model.safetensors"), "np") as f:
            metadata = {k: v for k, v in f.metadata().items() if k not in ("seed", "held_out_fraction")}
            save_file({name: f.get_tensor(name) for name in f.keys()}, legacy, metadata=metadata)
        unsaid = run(["eval", "--model", legacy, "--data", self.labelled, "--split", "validation"])
        self.assertEqual(unsaid.returncode, 2, unsaid.stderr)
        self.assertIn("does not record which rows", unsaid.stderr)
        said = run(["eval", "--model", legacy, "--data", self.labelled, "--split", "validation",
                    "--val-fraction", "0.25", "--seed", "7", "--output", self.path("legacy.json")])
        self.assertEqual(said.returncode, 0, said.stderr)
        with open(self.path("legacy.json")) as f:
            self.assertEqual(json.load(f)["loss"], scored["loss"])
        for flag, value in (("--val-fraction", "0.1"), ("--seed", "42")):
            refused = run(["eval", "--model", os.path.join(out, "model.safetensors"), "--data", self.labelled,
                           "--split", "validation", flag, value])
            self.assertEqual(refused.returncode, 2, refused.stderr)
            self.assertIn(flag + " " + value, refused.stderr)
        # The held-out rows come in the order of the file: their predictions are rows of the
        # whole file's, in the same order.
        model_path = os.path.join(out, "model.safetensors")
        tables = {}
        for split in ("all", "validation"):
            tables[split] = self.path(f"{split}.npy")
            self.predict(["--model", model_path, "--data", self.labelled, "--label-column", "0", "--split", split,
                          "--output", tables[split]])
        every, held_out = np.load(tables["all"]), np.load(tables["validation"])
        rows = [int(np.flatnonzero((every == row).all(1))[0]) for row in held_out]
        self.assertEqual(len(rows), summary["val_samples"])
        self.assertEqual(rows, sorted(rows))
        # Without --split, every row of the file is scored.
        whole = run(["eval", "--model", os.path.join(out, "model.safetensors"), "--data", self.labelled,
                     "--output", scores])
        self.assertEqual(whole.returncode, 0, whole.stderr)
        with open(scores) as f:
            self.assertEqual(json.load(f)["samples"], len(self.features))

    def test_models_that_held_out_no_rows_are_refused(self):
        out = self.train("mlp", ["--train", self.labelled, "--val", self.labelled, "--hidden", "4", "--epochs", "1"])
        host = self.train("host", ["--train", self.labelled, "--data-sharding", "host", "--hidden", "4",
                                   "--epochs", "1"])
        kmeans = self.path("kmeans")
        self.assertEqual(run(["kmeans", "--data", self.labelled, "-k", "2", "--output-dir", kmeans,
                              "--threads", "1"]).returncode, 0)
        for model in (os.path.join(out, "model.safetensors"), os.path.join(host, "model.safetensors"),
                      os.path.join(kmeans, "centres.safetensors")):
            result = run(["predict", "--model", model, "--data", self.labelled, "--label-column", "0",
                          "--split", "validation"], cwd=self.dir)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn("held out no rows of its data that can be found again", result.stderr)

    def test_eval_logits_as_csv_and_unlabelled_data_sent_to_predict(self):
        out = self.train("mlp", ["--train", self.labelled, "--hidden", "8", "--epochs", "1"])
        model_path = os.path.join(out, "model.safetensors")
        for name in ("logits.csv", "logits.npy"):
            result = run(["eval", "--model", model_path, "--data", self.labelled, "--predictions", self.path(name)])
            self.assertEqual(result.returncode, 0, result.stderr)
        header, values = read_table(self.path("logits.csv"))
        self.assertEqual(header, ["logit_0", "logit_1", "logit_2"])
        np.testing.assert_array_equal(values.astype(np.float32), np.load(self.path("logits.npy")))
        refused = run(["eval", "--model", model_path, "--data", self.unlabelled, "--label-column", "none"])
        self.assertEqual(refused.returncode, 2, refused.stderr)
        self.assertIn("ringtrain predict", refused.stderr)


if __name__ == "__main__":
    unittest.main()
