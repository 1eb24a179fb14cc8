"""The reducer's options end to end: every way of communicating gradients must train the same
model as one process with the same global batch (exactly, where the arithmetic is the same)."""
import json
import os
import unittest

from ringtrain_testing import RingtrainTestCase, run

# 720 samples, global batch 24: the same optimizer steps at 1, 2 and 3 ranks.
DATA = ["--train", "synthetic:720:16:4", "--val", "synthetic:200:16:4", "--hidden", "32,16",
        "--epochs", "2", "--lr", "0.05", "--log-every", "10"]


def model_bytes(out):
    with open(os.path.join(out, "model.safetensors"), "rb") as f:
        return f.read()


class ReducerOptions(RingtrainTestCase):
    def test_overlap_and_no_overlap_train_bit_identical_models(self):
        for bucket_mb in ("0.001", "25"):
            with self.subTest(bucket_mb=bucket_mb):
                args = DATA + ["--batch-size", "12", "--bucket-mb", bucket_mb]
                overlapped = self.train(f"overlap{bucket_mb}", args + ["--overlap", "on"], ranks=2)
                baseline = self.train(f"sync{bucket_mb}", args + ["--overlap", "off"], ranks=2)
                self.assertEqual(model_bytes(overlapped), model_bytes(baseline))
                self.assertTrue(self.summary(overlapped)["overlap"])
                self.assertFalse(self.summary(baseline)["overlap"])
                self.assertGreater(self.summary(overlapped)["gradient_buckets"],
                                   1 if bucket_mb == "0.001" else 0)

    def test_every_algorithm_and_bucket_size_matches_one_process(self):
        single = self.model(self.train("one", DATA + ["--batch-size", "24"]))
        variants = {
            "ring": ["--allreduce", "ring"],
            "tiny-buckets": ["--bucket-mb", "0.0005"],
            "ring-tiny-buckets": ["--allreduce", "ring", "--bucket-mb", "0.0005", "--no-overlap"],
        }
        for name, flags in variants.items():
            for ranks in (2, 3):
                with self.subTest(variant=name, ranks=ranks):
                    out = self.train(f"{name}{ranks}", DATA + ["--batch-size", str(24 // ranks)] + flags,
                                     ranks=ranks)
                    self.assertModelsClose(self.model(out), single)

    def test_compressed_gradients_train_as_well(self):
        single = self.summary(self.train("one", DATA + ["--batch-size", "24", "--epochs", "4"]))
        for compression in ("fp16", "bf16"):
            with self.subTest(compression=compression):
                out = self.train(compression, DATA + ["--batch-size", "12", "--epochs", "4",
                                                      "--grad-compression", compression], ranks=2)
                summary = self.summary(out)
                self.assertEqual(summary["grad_compression"], compression)
                self.assertGreater(summary["val_accuracy"], single["val_accuracy"] - 0.03)

    def test_accumulation_with_overlap_matches_the_larger_batch(self):
        whole = self.model(self.train("whole", DATA + ["--batch-size", "24"]))
        accumulated = self.model(self.train("accum", DATA + ["--batch-size", "4", "--grad-accum", "3",
                                                            "--bucket-mb", "0.001", "--overlap", "on"],
                                              ranks=2))
        self.assertModelsClose(accumulated, whole)


class BenchComm(RingtrainTestCase):
    def test_reports_every_size_collective_and_algorithm_with_no_wrong_elements(self):
        out = self.path("bench.json")
        for ranks in (1, 3):
            with self.subTest(ranks=ranks):
                result = run(["bench-comm", "-b", "4", "-e", "1M", "-f", "4", "-n", "3", "-w", "1",
                              "--ring-piece", "1K", "--json", out], ranks=ranks)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("busbw", result.stdout)
                self.assertIn("# Avg bus bandwidth", result.stdout)
                self.assertIn("# wrong elements: 0", result.stdout)
                with open(out) as f:
                    report = json.load(f)
                self.assertEqual(report["ranks"], ranks)
                sizes = [4 * 4 ** i for i in range(10)]
                variants = [(c, a) for c in ("allreduce", "reduce-scatter", "all-gather") for a in ("native", "ring")]
                self.assertEqual([(r["bytes"], r["collective"], r["algorithm"]) for r in report["rows"]],
                                 [(s, c, a) for s in sizes for c, a in variants])
                self.assertTrue(all(r["wrong"] == 0 for r in report["rows"]))
                # nccl-tests' bus factors: 2(n-1)/n for allreduce, (n-1)/n for its halves.
                for r in report["rows"]:
                    factor = (2 if r["collective"] == "allreduce" else 1) * (ranks - 1) / ranks
                    self.assertAlmostEqual(r["busbw_gbps"], r["algbw_gbps"] * factor, places=6)

    def test_min_bw_decides_the_exit_status(self):
        out = self.path("bench.json")
        sweep = ["bench-comm", "-b", "1K", "-e", "64K", "-f", "8", "-n", "2", "-w", "1", "--json", out]
        passed = run(sweep + ["--min-bw", "1e-9"], ranks=2)
        self.assertEqual(passed.returncode, 0, passed.stderr)
        self.assertIn("# minimum bus bandwidth: 0.000 GB/s: passed", passed.stdout)

        failed = run(sweep + ["--min-bw", "1e9", "--algorithms", "ring", "--collectives", "allreduce,all-gather"],
                     ranks=2)
        self.assertEqual(failed.returncode, 1, failed.stderr)
        self.assertIn("FAILED", failed.stdout)
        self.assertRegex(failed.stderr,
                         r"average bus bandwidth [0-9.e+-]+ GB/s \(allreduce ring\) is below --min-bw 1e\+09")
        with open(out) as f:
            report = json.load(f)
        self.assertEqual(report["below_min_busbw"], ["allreduce ring", "all-gather ring"])
        rows = [r["busbw_gbps"] for r in report["rows"] if r["collective"] == "all-gather"]
        self.assertAlmostEqual(report["avg_busbw_gbps"]["all-gather"]["ring"], sum(rows) / len(rows))

        alone = run(sweep + ["--min-bw", "1"])
        self.assertEqual(alone.returncode, 2)
        self.assertIn("--min-bw: the bus bandwidth of one rank is 0", alone.stderr)

    def test_bad_flags_name_the_flag(self):
        for args, message in ((["-e", "12Q"], "--max-bytes"), (["--algorithms", "tree"], "--algorithms"),
                              (["--collectives", "broadcast"], "--collectives"),
                              (["--min-bw=-1"], "--min-bw must not be negative"),
                              (["-b", "1M", "-e", "1K"], "--min-bytes must not exceed --max-bytes")):
            with self.subTest(args=args):
                result = run(["bench-comm"] + args, ranks=2)
                self.assertEqual(result.returncode, 2)
                self.assertIn(message, result.stderr)


if __name__ == "__main__":
    unittest.main()
