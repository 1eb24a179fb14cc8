"""Data-parallel training against single-process training, and against itself."""
import json
import os
import unittest


from ringtrain_testing import RingtrainTestCase

# 720 training samples divide evenly into global batches of 24 at 1, 2 and 3 ranks, so every
# optimizer step sees the same samples whatever the world size.
DATA = ["--train", "synthetic:720:16:4", "--val", "synthetic:200:16:4", "--hidden", "32,16",
        "--epochs", "2", "--lr", "0.05", "--log-every", "10"]


class DataParallelEquivalence(RingtrainTestCase):
    def test_n_ranks_with_batch_b_match_one_rank_with_batch_n_times_b(self):
        single = self.model(self.train("one", DATA + ["--batch-size", "24"]))
        for ranks in (2, 3):
            with self.subTest(ranks=ranks):
                parallel = self.model(self.train(f"np{ranks}", DATA + ["--batch-size", str(24 // ranks)],
                                                 ranks=ranks))
                self.assertModelsClose(parallel, single)

    def test_drop_last_makes_any_sample_count_match(self):
        # 725 samples divide neither by 2 ranks nor by the global batch of 24.
        odd = ["--train", "synthetic:725:16:4"] + DATA[2:]
        single = self.model(self.train("one", odd + ["--batch-size", "24", "--drop-last"]))
        parallel = self.model(self.train("np2", odd + ["--batch-size", "12", "--drop-last"], ranks=2))
        self.assertModelsClose(parallel, single)
        # Without --drop-last the padded last step differs, as docs/robustness.md says.
        single = self.model(self.train("one_padded", odd + ["--batch-size", "24"]))
        parallel = self.model(self.train("np2_padded", odd + ["--batch-size", "12"], ranks=2))
        with self.assertRaises(AssertionError):
            self.assertModelsClose(parallel, single)

    def test_the_comparison_notices_a_different_global_batch(self):
        single = self.model(self.train("one", DATA + ["--batch-size", "24"]))
        doubled = self.model(self.train("np2", DATA + ["--batch-size", "24"], ranks=2))
        with self.assertRaises(AssertionError):
            self.assertModelsClose(doubled, single)

    def test_gradient_accumulation_matches_the_larger_batch(self):
        whole = self.model(self.train("whole", DATA + ["--batch-size", "24"]))
        accumulated = self.model(self.train("accum", DATA + ["--batch-size", "8", "--grad-accum", "3"]))
        self.assertModelsClose(accumulated, whole)

    def test_repeat_runs_are_bit_identical(self):
        args = DATA + ["--batch-size", "12", "--optimizer", "adamw", "--lr", "0.01"]
        first = self.train("first", args, ranks=2)
        second = self.train("second", args, ranks=2)
        with open(os.path.join(first, "model.safetensors"), "rb") as a, \
                open(os.path.join(second, "model.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())


class Outputs(RingtrainTestCase):
    def test_summary_metrics_and_model_file(self):
        out = self.train("run", DATA + ["--batch-size", "12"], ranks=2)
        summary = self.summary(out)
        for key in ("world_size", "steps", "epochs", "final_train_loss", "val_loss", "val_accuracy",
                    "samples_per_sec", "wall_seconds"):
            self.assertIn(key, summary)
        self.assertEqual(summary["world_size"], 2)
        self.assertEqual(summary["steps"], 2 * 720 // 24)
        self.assertEqual(summary["epochs"], 2)

        with open(os.path.join(out, "metrics.jsonl")) as f:
            records = [json.loads(line) for line in f]
        train_records = [r for r in records if "loss" in r]
        val_records = [r for r in records if "val_accuracy" in r]
        self.assertEqual([r["step"] for r in train_records], list(range(10, 61, 10)))
        self.assertEqual(len(val_records), 2)
        self.assertEqual(val_records[-1]["val_accuracy"], summary["val_accuracy"])

        import torch
        from safetensors.torch import load_file
        tensors = load_file(os.path.join(out, "model.safetensors"))
        self.assertEqual({k: tuple(v.shape) for k, v in tensors.items()},
                         {"1.weight": (32, 16), "1.bias": (32,), "3.weight": (16, 32), "3.bias": (16,),
                          "5.weight": (4, 16), "5.bias": (4,)})
        self.assertTrue(all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in tensors.values()))

    def test_init_from_continues_from_a_saved_model(self):
        first = self.train("first", DATA + ["--batch-size", "24"])
        resumed = self.train("resumed", DATA + ["--batch-size", "24", "--init-from",
                                                os.path.join(first, "model.safetensors"),
                                                "--max-steps", "1", "--lr", "1e-9"])
        self.assertModelsClose(self.model(resumed), self.model(first), rtol=1e-6, atol=1e-6)


if __name__ == "__main__":
    unittest.main()
