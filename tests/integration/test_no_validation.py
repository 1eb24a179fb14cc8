"""--val none: every sample trains and nothing is validated; the figures that were not measured
are null, and the model equals the one trained on the same rows with a separate validation file."""
import unittest

import numpy as np

from ringtrain_testing import RingtrainTestCase, write_csv


class NoValidation(RingtrainTestCase):
    def test_every_row_trains_and_nothing_is_validated(self):
        rng = np.random.default_rng(5)
        features = rng.normal(size=(300, 4)) * [1, 5, 50, 0.2] + 3
        labels = (features[:, 0] > 3).astype(int)
        write_csv(self.path("all.csv"), labels, features)
        write_csv(self.path("other.csv"), labels[:50], features[:50])
        flags = ["--train", self.path("all.csv"), "--epochs", "2", "--hidden", "8", "--batch-size", "30"]
        out = self.train("none", flags + ["--val", "none"], ranks=2)
        summary = self.summary(out)
        self.assertEqual(summary["train_samples"], 300)
        self.assertIsNone(summary["val_samples"])
        self.assertIsNone(summary["val_loss"])
        self.assertIsNone(summary["val_accuracy"])
        self.assertEqual(summary["steps"], 2 * 300 // 60)
        # A validation file changes nothing about training (the statistics are the training
        # set's either way): the same model.
        with_val = self.train("with_val", flags + ["--val", self.path("other.csv")], ranks=2)
        for name, tensor in self.model(with_val).items():
            np.testing.assert_array_equal(tensor, self.model(out)[name], err_msg=name)
        self.assertIsNotNone(self.summary(with_val)["val_loss"])


if __name__ == "__main__":
    unittest.main()
