"""Training on a real data set (scikit-learn's bundled handwritten digits, 8x8 images) as CSV
files and as MNIST-format IDX files, on 2 ranks."""
import os
import unittest

import numpy as np
from sklearn.datasets import load_digits

from ringtrain_testing import RingtrainTestCase, write_csv, write_idx



class RealData(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        digits = load_digits()
        order = np.random.default_rng(0).permutation(len(digits.target))
        self.train_rows, self.val_rows = order[:1500], order[1500:]
        self.images, self.labels = digits.images, digits.target

    def test_csv_files(self):
        flat = self.images.reshape(len(self.labels), -1)
        write_csv(self.path("train.csv"), self.labels[self.train_rows], flat[self.train_rows])
        write_csv(self.path("val.csv"), self.labels[self.val_rows], flat[self.val_rows])
        out = self.train("csv", ["--train", self.path("train.csv"), "--val", self.path("val.csv"),
                                 "--epochs", "15", "--batch-size", "32", "--lr", "0.02"], ranks=2)
        summary = self.summary(out)
        self.assertEqual(summary["val_samples"], len(self.val_rows))
        self.assertGreaterEqual(summary["val_accuracy"], 0.9)

    def test_idx_directory_with_the_cnn(self):
        os.makedirs(self.path("digits"))
        pixels = (self.images * 255 / 16).round()
        write_idx(self.path("digits", "train-images-idx3-ubyte"), pixels[self.train_rows])
        write_idx(self.path("digits", "train-labels-idx1-ubyte"), self.labels[self.train_rows])
        write_idx(self.path("digits", "t10k-images-idx3-ubyte"), pixels[self.val_rows])
        write_idx(self.path("digits", "t10k-labels-idx1-ubyte"), self.labels[self.val_rows])
        out = self.train("idx", ["--train", self.path("digits"), "--val", self.path("digits"),
                                 "--model", "cnn", "--hidden", "64", "--epochs", "15",
                                 "--batch-size", "32", "--lr", "0.05"], ranks=2)
        summary = self.summary(out)
        self.assertEqual(summary["train_samples"], len(self.train_rows))
        self.assertGreaterEqual(summary["val_accuracy"], 0.9)


if __name__ == "__main__":
    unittest.main()
