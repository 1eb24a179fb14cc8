"""`ringtrain prep` and `ringtrain check-data`: every input format converted, then read back with an
independent reader of the documented format (shard_format.py) and compared with the source; and
the bad inputs, each with one clear error naming the file."""
import os
import unittest

import numpy as np

from ringtrain_testing import RingtrainTestCase, run, write_csv, write_idx
from shard_format import read_dataset



class Prep(RingtrainTestCase):
    def prep(self, *args):
        result = run(["prep", "--progress", "off"] + list(args))
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def failure(self, args, expected):
        result = run(["prep", "--progress", "off"] + list(args))
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn(expected, result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        return result

    def test_csv_round_trip_in_several_shards(self):
        rng = np.random.default_rng(1)
        features = rng.normal(size=(301, 5)).astype(np.float32)
        labels = rng.integers(0, 4, size=301)
        os.mkdir(self.path("csv"))
        # Two files read in name order, as one table.
        write_csv(self.path("csv", "b.csv"), labels[200:], features[200:])
        write_csv(self.path("csv", "a.csv"), labels[:200], features[:200])
        out = self.prep("--input", self.path("csv"), "--output", self.path("ds"), "--shard-size", "4K")
        self.assertIn("wrote 301 samples of 5 float32, 4 classes", out.stdout)
        index, stored, stored_labels = read_dataset(self.path("ds"))
        self.assertEqual(len(index["shards"]), -(-301 // (4096 // (5 * 4))))
        self.assertEqual((index["kind"], index["dtype"], index["sample_shape"]), ("samples", "float32", [5]))
        self.assertEqual(index["num_classes"], 4)
        np.testing.assert_array_equal(stored, features)
        np.testing.assert_array_equal(stored_labels, labels)
        np.testing.assert_allclose(index["feature_mean"], features.astype(np.float64).mean(0), rtol=1e-12)
        np.testing.assert_allclose(index["feature_std"], features.astype(np.float64).std(0, ddof=1), rtol=1e-12)

    def test_a_table_trains_the_same_from_npy_and_from_csv(self):
        # One standardisation rule for every source: a .npy table was left unstandardised under
        # --normalize auto (0.37 accuracy where its CSV reached 0.99).
        rng = np.random.default_rng(3)
        features = (rng.normal(size=(400, 6)) * [1, 10, 100, 1000, 0.1, 5] + 50).astype(np.float32)
        labels = (features[:, 0] + features[:, 3] / 1000 > 51).astype(np.int64)
        write_csv(self.path("t.csv"), labels, features)
        np.save(self.path("x.npy"), features)
        np.save(self.path("y.npy"), labels)
        self.prep("--input", self.path("t.csv"), "--output", self.path("from_csv"))
        self.prep("--input", self.path("x.npy"), "--labels", self.path("y.npy"), "--output", self.path("from_npy"))
        flags = ["--epochs", "3", "--hidden", "16", "--batch-size", "20"]
        a = self.train("csv", ["--train", "shards:" + self.path("from_csv")] + flags)
        b = self.train("npy", ["--train", "shards:" + self.path("from_npy")] + flags)
        self.assertEqual(self.model(a).keys(), self.model(b).keys())
        for name, tensor in self.model(a).items():
            np.testing.assert_array_equal(tensor, self.model(b)[name], err_msg=name)
        self.assertGreater(self.summary(b)["val_accuracy"], 0.9)

    def test_npy_round_trip_keeps_or_widens_the_type(self):
        rng = np.random.default_rng(2)
        cases = [(rng.normal(size=(37, 3, 4)), np.float32),  # float64 is stored as float32
                 (rng.integers(0, 256, size=(37, 6)).astype(np.uint8), np.uint8),
                 (rng.normal(size=(37, 2)).astype(np.float16), np.float16),
                 (rng.integers(-5, 5, size=(37, 2)).astype(np.int16), np.int32)]
        labels = rng.integers(0, 9, size=37).astype(np.int32)
        np.save(self.path("y.npy"), labels)
        for number, (array, stored_type) in enumerate(cases):
            with self.subTest(dtype=str(array.dtype)):
                np.save(self.path(f"x{number}.npy"), array)
                out = self.path(f"ds{number}")
                self.prep("--input", self.path(f"x{number}.npy"), "--labels", self.path("y.npy"),
                          "--output", out, "--num-classes", "10")
                index, stored, stored_labels = read_dataset(out)
                self.assertEqual(stored.dtype, stored_type)
                self.assertEqual(index["sample_shape"], list(array.shape[1:]))
                self.assertEqual(index["num_classes"], 10)
                np.testing.assert_array_equal(stored, array.astype(stored_type))
                np.testing.assert_array_equal(stored_labels, labels)

    def test_idx_round_trip(self):
        rng = np.random.default_rng(3)
        images = rng.integers(0, 256, size=(23, 7, 5)).astype(np.uint8)
        labels = rng.integers(0, 10, size=23).astype(np.uint8)
        os.mkdir(self.path("mnist"))
        write_idx(self.path("mnist", "t10k-images-idx3-ubyte"), images)
        write_idx(self.path("mnist", "t10k-labels-idx1-ubyte"), labels)
        self.prep("--input", self.path("mnist"), "--split", "test", "--output", self.path("ds"))
        index, stored, stored_labels = read_dataset(self.path("ds"))
        self.assertEqual(index["sample_shape"], [1, 7, 5])
        self.assertAlmostEqual(index["feature_scale"], 1 / 255)
        np.testing.assert_array_equal(stored, images[:, None])
        np.testing.assert_array_equal(stored_labels, labels)

    def test_text_becomes_byte_tokens(self):
        text = "ringtrain reads text as bytes: ünïcödé too.\n" * 500
        with open(self.path("corpus.txt"), "w", encoding="utf-8") as f:
            f.write(text)
        self.prep("--input", self.path("corpus.txt"), "--output", self.path("ds"), "--shard-size", "4K")
        index, tokens, _ = read_dataset(self.path("ds"))
        self.assertEqual(index["kind"], "tokens")
        self.assertEqual(index["num_classes"], 256)
        self.assertGreater(len(index["shards"]), 3)
        self.assertEqual(tokens.tobytes(), text.encode("utf-8"))

    def test_check_data_passes_a_good_data_set_and_names_a_corrupt_shard(self):
        np.save(self.path("x.npy"), np.arange(4000, dtype=np.float32).reshape(1000, 4))
        self.prep("--input", self.path("x.npy"), "--output", self.path("ds"), "--shard-size", "4K")
        result = run(["check-data", self.path("ds")])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("every checksum matches", result.stdout)
        victim = self.path("ds", "shard-000002.rtshard")
        with open(victim, "r+b") as f:
            f.seek(5000)
            byte = f.read(1)
            f.seek(5000)
            f.write(bytes([byte[0] ^ 1]))
        result = run(["check-data", self.path("ds")])
        self.assertEqual(result.returncode, 2)
        self.assertIn(f"{victim} fails its checksum (corrupt)", result.stderr)

    def test_bad_input_names_the_file_and_leaves_nothing_behind(self):
        with open(self.path("bad.csv"), "w") as f:
            f.write("1,2.0,3.0\n0,4.0,x\n")
        self.failure(["--input", self.path("bad.csv"), "--output", self.path("out")],
                     f"{self.path('bad.csv')}:2: column 2 (0-based): 'x' is not a number")
        self.assertEqual(sorted(os.listdir(self.dir)), ["bad.csv"])

        np.save(self.path("x.npy"), np.zeros((10, 3), np.float32))
        with open(self.path("x.npy"), "r+b") as f:
            f.truncate(os.path.getsize(self.path("x.npy")) - 4)
        self.failure(["--input", self.path("x.npy"), "--output", self.path("out")],
                     f"{self.path('x.npy')}: .npy header promises 30 elements of 4 bytes")
        np.save(self.path("x.npy"), np.zeros((10, 3), np.float32))
        np.save(self.path("y.npy"), np.zeros(9, np.int64))
        self.failure(["--input", self.path("x.npy"), "--labels", self.path("y.npy"), "--output", self.path("out")],
                     "has 10 samples but")
        np.save(self.path("y.npy"), np.full(10, 3, np.int64))
        self.failure(["--input", self.path("x.npy"), "--labels", self.path("y.npy"), "--output", self.path("out"),
                      "--num-classes", "3"], "has label 3, outside the 3 classes given")
        self.failure(["--input", self.path("nothing.csv"), "--output", self.path("out")],
                     "nothing.csv: no such file or directory")
        self.assertFalse(os.path.exists(self.path("out")))

    def test_an_existing_data_set_is_replaced_only_when_asked(self):
        np.save(self.path("a.npy"), np.zeros((5, 2), np.float32))
        np.save(self.path("b.npy"), np.ones((7, 2), np.float32))
        self.prep("--input", self.path("a.npy"), "--output", self.path("ds"))
        self.failure(["--input", self.path("b.npy"), "--output", self.path("ds")], "pass --overwrite")
        self.assertEqual(read_dataset(self.path("ds"))[0]["count"], 5)
        self.prep("--input", self.path("b.npy"), "--output", self.path("ds"), "--overwrite")
        self.assertEqual(read_dataset(self.path("ds"))[0]["count"], 7)
        os.mkdir(self.path("notes"))
        with open(self.path("notes", "mine.txt"), "w") as f:
            f.write("keep me")
        self.failure(["--input", self.path("b.npy"), "--output", self.path("notes"), "--overwrite"],
                     "holds files other than a ringtrain data set")
        self.assertEqual(os.listdir(self.path("notes")), ["mine.txt"])


if __name__ == "__main__":
    unittest.main()
