"""Bad input: one clear line on stderr naming the flag, file or line; a non-zero exit; every rank
gone within seconds."""
import gzip
import os
import subprocess
import unittest

from ringtrain_testing import BIN, RingtrainTestCase, run, write_csv


class BadInput(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        write_csv(self.path("good.csv"), [0, 1, 2, 1], [[0.5, 1.0], [1.5, 2.0], [2.5, 3.0], [3.5, 4.0]])
        with open(self.path("ragged.csv"), "w") as f:
            f.write("0,1.0,2.0\n1,2.0\n")
        with open(self.path("text.csv"), "w") as f:
            f.write("0,1.0,2.0\n1,2.0,two\n")
        with open(self.path("empty.csv"), "w"):
            pass
        write_csv(self.path("one.csv"), [2], [[0.0, 1.0]])
        write_csv(self.path("wide.csv"), [0, 1], [[0.0, 1.0, 2.0], [1.0, 0.0, 2.0]])
        os.makedirs(self.path("no_csv_here"))
        write_csv(self.path("val_label9.csv"), [0, 9], [[0.0, 1.0], [1.0, 0.0]])
        with open(self.path("corrupt.safetensors"), "wb") as f:
            f.write(b"\xff" * 16)
        with open(self.path("a_file"), "w") as f:
            f.write("x")
        with open(self.path("good.csv"), "rb") as plain, gzip.open(self.path("good.csv.gz"), "wb") as packed:
            packed.write(plain.read())

    def expect_failure(self, args, message, ranks=2):
        result = run(["train", "--output-dir", self.path("out"), "--epochs", "1"] + args, ranks=ranks,
                     timeout=60)
        self.assertNotEqual(result.returncode, 0, result.stdout)
        error_lines = [line for line in result.stderr.splitlines() if "ringtrain train: error" in line]
        self.assertEqual(len(error_lines), 1, result.stderr)
        self.assertIn(message, error_lines[0])
        self.assertLess(result.seconds, 30)

    def test_cases(self):
        good = ["--train", self.path("good.csv"), "--val", self.path("good.csv")]
        cases = [
            (["--bogus"], "bogus"),
            (["--epochs", "abc"], "--epochs: 'abc' is not an integer"),
            (["--batch-size", "0"], "--batch-size must be positive"),
            (["--optimizer", "lbfgs"], "--optimizer must be sgd|adamw"),
            (["--train", self.path("missing.csv")], "missing.csv: no such file"),
            (["--train", self.path("no_csv_here")], "directory holds no *.csv file"),
            (["--train", self.path("ragged.csv")], "ragged.csv:2: expected 3 columns"),
            (["--train", self.path("text.csv")], "text.csv:2: column 2 (0-based): 'two' is not a number"),
            (["--train", self.path("empty.csv")], "empty.csv: no data rows"),
            (good + ["--csv-header"], "good.csv:1: --csv-header skips this line as a header, but it holds only numbers"),
            (["--train", self.path("good.csv.gz")], "good.csv.gz is gzip-compressed"),
            (["--train", self.path("good.csv"), "--val", self.path("val_label9.csv")],
             "val_label9.csv:2: label 9 is outside the classes 0..2"),
            (good + ["--num-classes", "2"], "good.csv:3: label 2 is outside the classes 0..1"),
            (["--train", self.path("good.csv"), "--val", self.path("wide.csv")],
             "wide.csv has samples of shape 3 but --train"),
            (good + ["--output-dir", self.path("a_file", "out")], "--output-dir"),
            (good + ["--init-from", self.path("corrupt.safetensors")], "corrupt.safetensors"),
            (good + ["--init-from", self.path("missing.safetensors")], "missing.safetensors"),
            (good + ["--device", "cuda"], "--device cuda"),
            (good + ["--backend", "nccl", "--device", "cpu"], "--backend nccl reduces CUDA tensors"),
            (good + ["--backend", "gloo"], "--backend must be auto|mpi|nccl"),
            (["--model", "cnn", "--train", "synthetic:100:10"], "--model cnn needs image samples"),
            (good + ["--bucket-mb", "-1"], "--bucket-mb must be positive"),
            (good + ["--allreduce", "tree"], "--allreduce must be auto|native|ring"),
            (good + ["--zero", "3"], "--zero must be 0, 1 or 2 (got 3)"),
        ]
        for args, message in cases:
            for ranks in (None, 2):
                with self.subTest(args=args, ranks=ranks):
                    self.expect_failure(args, message, ranks=ranks)

    def test_a_label_column_that_names_a_feature_is_warned_about(self):
        # The report: --label-column 13 on a 119-row table trained a 1,681-class model.
        features = [[i * 0.1, (i * 37) % 200] for i in range(40)]
        write_csv(self.path("wide_labels.csv"), [i % 3 for i in range(40)], features)
        classes = max(row[1] for row in features) + 1
        # Column 0 holds the labels, 1 and 2 the features.
        result = run(["train", "--train", self.path("wide_labels.csv"), "--label-column", "2", "--epochs", "1",
                      "--hidden", "4", "--output-dir", self.path("warned"), "--progress", "off"])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"--label-column 2, counted from 0) make {classes} classes for 40 rows; "
                      "is that column the label?", result.stderr)
        quiet = run(["train", "--train", self.path("wide_labels.csv"), "--epochs", "1", "--hidden", "4",
                     "--output-dir", self.path("quiet"), "--progress", "off"])
        self.assertEqual(quiet.returncode, 0, quiet.stderr)
        self.assertNotIn("is that column the label", quiet.stderr)

    def test_a_label_error_names_the_row_of_the_file(self):
        # Before the validation split shuffles the rows.
        # The file's line, counting its header and a blank line.
        write_csv(self.path("rows.csv"), [0, 1] * 20 + [7], [[float(i), 1.0] for i in range(41)])
        with open(self.path("rows.csv")) as f:
            rows = f.read().splitlines()
        with open(self.path("late.csv"), "w") as f:
            f.write("\n".join(["label,a,b"] + rows[:10] + [""] + rows[10:]) + "\n")
        result = run(["train", "--train", self.path("late.csv"), "--csv-header", "--num-classes", "2", "--epochs",
                      "1", "--output-dir", self.path("late"), "--progress", "off"])
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("late.csv:43: label 7 is outside the classes 0..1", result.stderr)

    def test_nccl_refuses_to_start_without_a_gpu(self):
        info = run(["info"]).stdout
        if "gpus: 0" not in info:
            self.skipTest("a GPU is visible")
        good = ["--train", self.path("good.csv"), "--val", self.path("good.csv")]
        message = "--backend nccl: no GPU is visible on host"
        if "nccl (cuda tensors)" not in info:
            message = "--backend nccl: this ringtrain was built without CUDA/NCCL support"
        for ranks in (None, 2):
            with self.subTest(ranks=ranks):
                self.expect_failure(good + ["--backend", "nccl"], message, ranks=ranks)

    def test_processes_started_as_singletons_refuse_to_run(self):
        """What `srun -n 2` without a PMI plugin does: two processes with the step's environment saying
        there are two, and nothing for MPI to join them by. Each refuses, saying how to launch."""
        out = self.path("singletons")
        jobs = []
        # Nothing of a launcher this test itself may run under.
        clean = {name: value for name, value in os.environ.items()
                 if not name.startswith(("SLURM_", "OMPI_", "PMI_", "PMIX_", "RINGTRAIN_LAUNCH"))}
        for task in range(2):
            environment = dict(clean, SLURM_JOB_ID="7", SLURM_STEP_ID="0", SLURM_STEP_NUM_TASKS="2",
                               SLURM_NTASKS="2", SLURM_NODELIST="localhost", SLURM_PROCID=str(task),
                               SLURM_LOCALID=str(task))
            jobs.append(subprocess.Popen([BIN, "train", "--output-dir", out, "--epochs", "1", "--train",
                                          "synthetic:100:4:2"], env=environment, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True))
        for job in jobs:
            stdout, stderr = job.communicate(timeout=60)
            self.assertEqual(job.returncode, 2, stdout + stderr)
            self.assertIn("ringtrain train: error: srun started 2 processes, but gave them no PMIx or PMI",
                          stderr)
            self.assertIn("srun --mpi=pmix", stderr)
        self.assertFalse(os.path.exists(out))

    def test_fewer_samples_than_ranks(self):
        self.expect_failure(["--train", self.path("one.csv"), "--val", self.path("good.csv")],
                            "has 1 samples, fewer than the 2 ranks", ranks=2)

    def test_other_commands(self):
        result = run(["shard-plan", "--world", "2"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("--size and --world are required", result.stderr)
        result = run(["frobnicate"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", result.stderr)


if __name__ == "__main__":
    unittest.main()
