"""ringtrain kmeans and ringtrain pca at 1, 2 and 3 ranks, against scikit-learn on a real data set
(its bundled handwritten digits) and on a Gaussian mixture, and their errors."""
import json
import os
import unittest

import numpy as np
from safetensors.numpy import load_file
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from ringtrain_testing import RingtrainTestCase, run, write_csv

RANKS = (1, 2, 3)


def cost_of(features, centres):
    distances = ((features[:, None, :].astype(np.float64) - centres[None].astype(np.float64)) ** 2).sum(2)
    return distances.min(1).sum(), np.bincount(distances.argmin(1), minlength=len(centres))


class ClusteringTestCase(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        self.features, labels = load_digits(return_X_y=True)
        self.digits = self.path("digits.csv")
        write_csv(self.digits, labels, self.features)

    def job(self, command, name, args, ranks):
        out = self.path(name)
        result = run([command, "--output-dir", out, "--threads", "1"] + list(args), ranks=ranks)
        self.assertEqual(result.returncode, 0, f"{command} failed:\n{result.stdout}\n{result.stderr}")
        with open(os.path.join(out, "summary.json")) as f:
            return out, json.load(f)

    def refused(self, command, args, ranks=2):
        result = run([command, "--output-dir", self.path("refused"), "--threads", "1"] + list(args), ranks=ranks)
        self.assertEqual(result.returncode, 2, f"{result.stdout}\n{result.stderr}")
        return result.stderr


class KMeansAcrossWorldSizes(ClusteringTestCase):
    def test_lloyd_gives_the_same_centres_at_every_world_size(self):
        runs = {}
        for ranks in RANKS:
            out, summary = self.job("kmeans", f"np{ranks}", ["--data", f"csv:{self.digits}", "-k", "10",
                                                             "--algorithm", "lloyd", "--seed", "5"], ranks)
            runs[ranks] = (load_file(os.path.join(out, "centres.safetensors")), summary)
        first, summary = runs[1]
        for ranks in RANKS[1:]:
            with self.subTest(ranks=ranks):
                np.testing.assert_array_equal(runs[ranks][0]["centres"], first["centres"])
                np.testing.assert_array_equal(runs[ranks][0]["cluster_sizes"], first["cluster_sizes"])
                self.assertEqual(runs[ranks][1]["iterations"], summary["iterations"])
                self.assertEqual(runs[ranks][1]["passes"], summary["passes"])
                self.assertEqual(runs[ranks][1]["world_size"], ranks)
        # The reported cost and sizes are those of the saved centres over the whole data set.
        cost, sizes = cost_of(self.features, first["centres"])
        self.assertAlmostEqual(summary["cost"] / cost, 1, places=5)
        np.testing.assert_array_equal(first["cluster_sizes"], sizes)
        # One pass for the first centre, one per k-means|| round, one per Lloyd iteration.
        self.assertEqual(summary["relocated_clusters"], 0)
        self.assertEqual(summary["passes"], 1 + 5 + summary["iterations"])
        # Converged Lloyd: one more iteration from these centres hardly moves them.
        again = KMeans(10, init=first["centres"].astype(np.float64), n_init=1, max_iter=1).fit(self.features)
        np.testing.assert_allclose(again.cluster_centers_, first["centres"], atol=0.05)
        reference = KMeans(10, n_init=10, random_state=0).fit(self.features).inertia_
        self.assertLess(summary["cost"], 1.03 * reference)

    def test_lloyd_is_exact_across_world_sizes_on_real_valued_data_too(self):
        # Unlike the digits' small integers, these features round; batches of 100 split the rows
        # differently at every world size.
        rng = np.random.default_rng(11)
        component = rng.integers(0, 6, 3000)
        features = (rng.normal(0, 4, (6, 5))[component] + rng.normal(0, 1.3, (3000, 5))).astype(np.float32)
        data = self.path("real.csv")
        write_csv(data, np.zeros(3000, dtype=np.int64), features)
        runs = []
        for ranks in RANKS:
            out, summary = self.job("kmeans", f"real{ranks}", ["--data", f"csv:{data}", "-k", "9", "--algorithm",
                                                               "lloyd", "--batch-size", "100", "--seed", "2"], ranks)
            runs.append((load_file(os.path.join(out, "centres.safetensors")), summary))
        for (centres, summary), ranks in zip(runs[1:], RANKS[1:]):
            with self.subTest(ranks=ranks):
                np.testing.assert_array_equal(centres["centres"], runs[0][0]["centres"])
                np.testing.assert_array_equal(centres["cluster_sizes"], runs[0][0]["cluster_sizes"])
                self.assertEqual(summary["iterations"], runs[0][1]["iterations"])
                self.assertEqual(summary["init_candidates"], runs[0][1]["init_candidates"])
        self.assertGreater(runs[0][1]["iterations"], 2)
        cost, _ = cost_of(features, runs[0][0]["centres"])
        self.assertAlmostEqual(runs[0][1]["cost"] / cost, 1, places=5)

    def test_as_many_clusters_as_samples(self):
        points = np.array([[0, 0], [1, 0], [0, 1], [5, 5], [5, 6], [9, 0], [9, 1]], dtype=np.float32)
        table = self.path("seven.csv")
        write_csv(table, [0] * 7, points)
        for algorithm in ("onepass", "lloyd"):
            for extra in ([], ["--init-rounds", "0"]):
                with self.subTest(algorithm=algorithm, extra=extra):
                    out, summary = self.job("kmeans", f"seven-{algorithm}{len(extra)}",
                                            ["--data", table, "-k", "7", "--algorithm", algorithm] + extra, 2)
                    self.assertEqual(summary["cost"], 0)
                    self.assertEqual(summary["cluster_sizes"], [1] * 7)
                    centres = load_file(os.path.join(out, "centres.safetensors"))["centres"]
                    self.assertEqual(sorted(map(tuple, centres.tolist())), sorted(map(tuple, points.tolist())))

    def test_lloyd_without_init_rounds_and_onepass_with_the_smallest_summary(self):
        reference = KMeans(20, n_init=10, random_state=0).fit(self.features).inertia_
        for name, extra in (("rounds0", ["--algorithm", "lloyd", "--init-rounds", "0"]),
                            ("small-summary", ["--summary-size", "40", "--batch-size", "64"])):
            with self.subTest(name):
                _, summary = self.job("kmeans", name, ["--data", f"csv:{self.digits}", "-k", "20"] + extra, 2)
                self.assertLess(summary["cost"], 1.15 * reference)
                self.assertEqual(len(summary["cluster_sizes"]), 20)
                self.assertGreater(min(summary["cluster_sizes"]), 0)

    def test_onepass_reads_the_data_once_and_lands_near_scikit_learn_at_every_world_size(self):
        reference = KMeans(10, n_init=10, random_state=0).fit(self.features).inertia_
        for ranks in RANKS:
            with self.subTest(ranks=ranks):
                out, summary = self.job("kmeans", f"np{ranks}", ["--data", f"csv:{self.digits}", "-k", "10"], ranks)
                self.assertEqual(summary["algorithm"], "onepass")
                self.assertEqual(summary["passes"], 1)
                self.assertGreaterEqual(summary["summary_clusters"], 10)
                centres = load_file(os.path.join(out, "centres.safetensors"))["centres"]
                cost, _ = cost_of(self.features, centres)
                self.assertAlmostEqual(summary["cost"] / cost, 1, places=5)
                self.assertLess(cost, 1.03 * reference, f"{cost} against scikit-learn's {reference}")

    def test_both_algorithms_find_the_components_of_a_gaussian_mixture(self):
        rng = np.random.default_rng(3)
        means = rng.normal(0, 6, (12, 8))
        component = rng.integers(0, 12, 6000)
        features = (means[component] + rng.normal(0, 1, (6000, 8))).astype(np.float32)
        data = self.path("mixture.csv")
        write_csv(data, np.zeros(6000, dtype=np.int64), features)
        reference = KMeans(12, n_init=10, random_state=0).fit(features).inertia_
        for algorithm in ("onepass", "lloyd"):
            for ranks in (1, 3):
                with self.subTest(algorithm=algorithm, ranks=ranks):
                    _, summary = self.job("kmeans", f"{algorithm}{ranks}",
                                          ["--data", f"csv:{data}", "-k", "12", "--algorithm", algorithm,
                                           "--batch-size", "500"], ranks)
                    self.assertLess(summary["cost"], 1.02 * reference)
                    self.assertEqual(sum(summary["cluster_sizes"]), 6000)


class KMeansErrors(ClusteringTestCase):
    def test_more_clusters_than_samples(self):
        small = self.path("small.csv")
        write_csv(small, [0] * 5, np.arange(10.0).reshape(5, 2))
        self.assertIn("--clusters 6 is more than the 5 samples", self.refused("kmeans", ["--data", small, "-k", "6"]))

    def test_fewer_distinct_points_than_clusters(self):
        repeated = self.path("repeated.csv")
        write_csv(repeated, [0] * 40, np.tile([[1.0, 2.0], [3.0, 4.0]], (20, 1)))
        for algorithm in ("onepass", "lloyd"):
            with self.subTest(algorithm=algorithm):
                self.assertIn("only 2 distinct points, fewer than the 3 clusters",
                              self.refused("kmeans", ["--data", repeated, "-k", "3", "--algorithm", algorithm]))

    def test_nan_input_names_the_sample(self):
        features = np.arange(60.0, dtype=np.float32).reshape(20, 3)
        features[13, 1] = np.nan
        table = self.path("nan.csv")
        write_csv(table, [0] * 20, features)
        np.save(self.path("nan.npy"), features)
        prep = run(["prep", "--input", self.path("nan.npy"), "--output", self.path("nan-shards"), "--progress", "off"])
        self.assertEqual(prep.returncode, 0, prep.stderr)
        for command, extra in (("kmeans", ["-k", "2"]), ("pca", ["--components", "2"])):
            with self.subTest(command=command):
                self.assertIn("nan.csv:14: column 2 (0-based): 'nan' is not a finite number",
                              self.refused(command, ["--data", table] + extra))
                self.assertIn("nan-shards: sample 14 has a NaN or infinite feature",
                              self.refused(command, ["--data", "shards:" + self.path("nan-shards")] + extra))

    def test_bad_flags(self):
        self.assertIn("--algorithm", self.refused("kmeans", ["--algorithm", "elkan"]))
        self.assertIn("--summary-size 15 must be at least twice --clusters 10",
                      self.refused("kmeans", ["--summary-size", "15"]))
        self.assertIn("--oversampling must be above 0 and at most 100",
                      self.refused("kmeans", ["--algorithm", "lloyd", "--oversampling", "1000"]))
        self.assertIn("--label-column must be none or between 0 and 1048575, got '-1'",
                      self.refused("kmeans", ["--data", f"csv:{self.digits}", "--label-column", "-1"]))


class PcaAgainstScikitLearn(ClusteringTestCase):
    def test_components_match_scikit_learn_at_every_world_size(self):
        # The exact solver: scikit-learn's automatic choice differs between versions.
        reference = PCA(12, svd_solver="full").fit(self.features)
        for ranks in RANKS:
            with self.subTest(ranks=ranks):
                out, summary = self.job("pca", f"np{ranks}", ["--data", f"csv:{self.digits}", "--components", "12"],
                                        ranks)
                model = load_file(os.path.join(out, "pca.safetensors"))
                np.testing.assert_allclose(model["mean"], reference.mean_, rtol=1e-10, atol=1e-10)
                np.testing.assert_allclose(model["components"], reference.components_, atol=1e-8)
                np.testing.assert_allclose(model["explained_variance"], reference.explained_variance_, rtol=1e-9)
                np.testing.assert_allclose(model["explained_variance_ratio"], reference.explained_variance_ratio_,
                                           rtol=1e-9)
                np.testing.assert_allclose(model["singular_values"], reference.singular_values_, rtol=1e-9)
                np.testing.assert_allclose(summary["explained_variance_ratio"],
                                           reference.explained_variance_ratio_, rtol=1e-9)
                self.assertEqual(summary["samples"], 1797)
                self.assertEqual(summary["world_size"], ranks)

    def test_whitened_projection_is_scikit_learns_transform(self):
        out, _ = self.job("pca", "white", ["--data", f"csv:{self.digits}", "--components", "5", "--whiten"], 2)
        model = load_file(os.path.join(out, "pca.safetensors"))
        projected = (self.features - model["mean"]) @ model["projection"].T
        reference = PCA(5, whiten=True, svd_solver="full").fit(self.features).transform(self.features)
        np.testing.assert_allclose(projected, reference, atol=1e-7)
        np.testing.assert_allclose(projected.std(0, ddof=1), np.ones(5), rtol=1e-9)

    def test_errors(self):
        # Three of the digits' 64 pixels are blank in every image: whitening 64 components would
        # divide by zero.
        self.assertIn("has (numerically) zero variance",
                      self.refused("pca", ["--data", f"csv:{self.digits}", "--components", "64", "--whiten"]))
        self.assertIn("--components 65 must be between 1 and the 64 features",
                      self.refused("pca", ["--data", f"csv:{self.digits}", "--components", "65"]))
        unlabelled = self.path("unlabelled.csv")
        np.savetxt(unlabelled, self.features[:50], delimiter=",", fmt="%g")
        _, summary = self.job("pca", "unlabelled", ["--data", unlabelled, "--label-column", "none",
                                                    "--components", "3"], 2)
        self.assertEqual(summary["features"], 64)


if __name__ == "__main__":
    unittest.main()
