"""--precision bf16|fp16 on CPU: autocast forward, float32 weights, and fp16's dynamic loss
scaling (skipped updates on overflow, the scale carried through checkpoints)."""
import os
import re
import unittest

import numpy as np

from ringtrain_testing import RingtrainTestCase, run

BUILT_IN = ["--train", "synthetic:8000", "--val", "synthetic:2000", "--epochs", "3", "--hidden", "128,64"]


class MixedPrecision(RingtrainTestCase):
    def test_bf16_reaches_the_accuracy_of_fp32_on_the_built_in_data(self):
        fp32 = self.summary(self.train("fp32", BUILT_IN, ranks=2))
        bf16_out = self.train("bf16", BUILT_IN + ["--precision", "bf16"], ranks=2)
        bf16 = self.summary(bf16_out)
        self.assertEqual(bf16["precision"], "bf16")
        self.assertGreater(fp32["val_accuracy"], 0.9)
        self.assertLess(abs(bf16["val_accuracy"] - fp32["val_accuracy"]), 0.02)
        # Master weights stay float32.
        for name, tensor in self.model(bf16_out).items():
            self.assertEqual(tensor.dtype, np.float32, name)

    def test_fp16_skips_overflowing_steps_and_lowers_the_scale(self):
        out = self.path("fp16")
        result = run(["train", "--output-dir", out, "--progress", "off", "--threads", "1", "--precision", "fp16",
                      "--loss-scale", "1e12", "--max-steps", "80"] + BUILT_IN[:4], ranks=2)
        self.assertEqual(result.returncode, 0, result.stderr)
        summary = self.summary(out)
        overflows = re.findall(r"fp16: gradients overflowed at step (\d+), update skipped; loss scale (\S+)",
                               result.stdout)
        self.assertGreater(len(overflows), 3)
        self.assertEqual(summary["overflow_steps"], len(overflows))
        # Each overflow halves the scale; no growth within 2000 clean steps.
        self.assertEqual(summary["loss_scale"], 1e12 / 2 ** len(overflows))
        self.assertEqual([int(step) for step, _ in overflows], list(range(1, len(overflows) + 1)))
        self.assertEqual(summary["skipped_steps"], 0)
        self.assertGreater(summary["val_accuracy"], 0.5)

    def test_an_fp16_run_resumes_with_its_loss_scale(self):
        args = ["--precision", "fp16", "--loss-scale", "1e9", "--checkpoint-every", "30"] + BUILT_IN[:4]
        whole = self.train("whole", args + ["--max-steps", "60"], ranks=2)
        first = self.train("resumed", args + ["--max-steps", "30"], ranks=2)
        self.assertTrue(os.path.isdir(os.path.join(first, "checkpoints", "step-000000030")))
        resumed = self.train("resumed", args + ["--max-steps", "60"], ranks=2)
        self.assertEqual(self.summary(resumed)["loss_scale"], self.summary(whole)["loss_scale"])
        a, b = self.model(whole), self.model(resumed)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)

    def test_bad_precision_flags(self):
        for args, message in ((["--precision", "fp8"], "--precision must be fp32|bf16|fp16, got 'fp8'"),
                              (["--loss-scale", "0.5"], "--loss-scale must be between 1 and 1e30")):
            result = run(["train", "--output-dir", self.path("bad")] + args)
            self.assertEqual(result.returncode, 2)
            self.assertIn(message, result.stderr)


if __name__ == "__main__":
    unittest.main()
