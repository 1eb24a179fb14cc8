"""--model gpt on byte-level text: prepared with `ringtrain prep`, trained data-parallel, and the
model file carries the transformer's parameters under their documented names."""
import unittest

from ringtrain_testing import RingtrainTestCase, run


class Gpt(RingtrainTestCase):
    def test_learns_a_repeating_text_at_two_ranks(self):
        # Past its first few bytes, a window of this text determines the byte that follows each
        # position; accuracy counts every position.
        with open(self.path("corpus.txt"), "w") as f:
            f.write("the quick brown fox jumps over the lazy dog. " * 400)
        prep = run(["prep", "--input", self.path("corpus.txt"), "--output", self.path("tokens")])
        self.assertEqual(prep.returncode, 0, prep.stderr)
        out = self.train("gpt", ["--train", self.path("tokens"), "--model", "gpt", "--context", "16",
                                 "--layers", "2", "--width", "32", "--heads", "4", "--optimizer",
                                 "adamw", "--lr", "3e-3", "--epochs", "8", "--batch-size", "32"],
                         ranks=2)
        summary = self.summary(out)
        self.assertGreater(summary["val_accuracy"], 0.9, summary)
        # The file names the tensors as the GPT's equivalent spec does: token and position
        # embeddings, the blocks, the final LayerNorm, the head.
        model = self.model(out)
        self.assertEqual(model["0.weight"].shape, (256, 32))
        self.assertEqual(model["1.weight"].shape, (16, 32))
        self.assertEqual(model["3.mlp.fc.weight"].shape, (128, 32))
        self.assertEqual(model["5.weight"].shape, (256, 32))

    def test_data_that_is_not_tokens_is_named(self):
        result = run(["train", "--model", "gpt", "--train", "synthetic:100:8", "--output-dir",
                      self.path("out"), "--epochs", "1"])
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("is not a token data set", result.stderr)


if __name__ == "__main__":
    unittest.main()
