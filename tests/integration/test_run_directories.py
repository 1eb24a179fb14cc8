"""Where runs write and which run a new command continues (docs/outputs-and-checkpoints.md,
"Where a run writes" and "Which run a command continues"): a finished model is never replaced by a run that did something
else, changed learning settings are refused under --resume auto, every run records its settings,
and a continued run keeps its metrics from before the stop."""
import glob
import json
import os
import re
import signal
import subprocess
import time
import unittest

from ringtrain_testing import BIN, RingtrainTestCase, command, run, write_csv

import numpy as np

SMALL = ["--train", "synthetic:2000", "--hidden", "64", "--progress", "off", "--threads", "1"]
# Long enough (seconds) to be stopped after its first checkpoint.
LONG = ["--train", "synthetic:200000:32:4", "--val", "synthetic:200:32:4", "--hidden", "128",
        "--epochs", "1", "--max-steps", "2000", "--batch-size", "16", "--checkpoint-every", "20",
        "--log-every", "10", "--progress", "off", "--threads", "1"]


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def checkpoints(directory):
    return sorted(glob.glob(os.path.join(directory, "checkpoints", "step-*")))


def manifest(checkpoint):
    with open(os.path.join(checkpoint, "manifest.json")) as f:
        return json.load(f)


def records(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


class RunDirectories(RingtrainTestCase):
    def ringtrain(self, args, expect=0, ranks=None):
        """`ringtrain train` in the test's directory, so that runs/ lands there."""
        result = subprocess.run(command(["train"] + list(args), ranks), capture_output=True, text=True,
                                timeout=300, cwd=self.dir)
        self.assertEqual(result.returncode, expect, f"{result.stdout}\n{result.stderr}")
        return result

    def summary_of(self, out):
        return self.summary(os.path.join(self.dir, out))

    def stopped_run(self, args):
        """Starts a long run, stops it with SIGTERM after its first checkpoint."""
        pattern = os.path.join(self.dir, "runs", "*", "checkpoints", "step-*")
        earlier = set(glob.glob(pattern))
        job = subprocess.Popen([BIN, "train"] + list(args), cwd=self.dir, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and job.poll() is None and set(glob.glob(pattern)) <= earlier:
            time.sleep(0.05)
        job.send_signal(signal.SIGTERM)
        stdout, stderr = job.communicate(timeout=120)
        self.assertEqual(job.returncode, 0, stderr)
        self.assertIn("stopping at step", stdout)

    def test_a_shorter_run_over_a_finished_one_is_refused_and_its_model_kept(self):
        # The report: 4 epochs with checkpoints, then the same with --epochs 2 in the same
        # directory "resumed" past its end, trained nothing and replaced the model.
        flags = SMALL + ["--checkpoint-every", "10", "--output-dir", "past"]
        self.ringtrain(flags + ["--epochs", "4"], ranks=2)
        model = file_bytes(self.path("past", "model.safetensors"))
        summary = file_bytes(self.path("past", "summary.json"))
        result = self.ringtrain(flags + ["--epochs", "2"], expect=2, ranks=2)
        self.assertIn("past the end of this run", result.stderr)
        self.assertIn("--epochs 2", result.stderr)
        self.assertEqual(file_bytes(self.path("past", "model.safetensors")), model)
        self.assertEqual(file_bytes(self.path("past", "summary.json")), summary)
        # The same command again has nothing to do: refused, the model kept.
        result = self.ringtrain(flags + ["--epochs", "4"], expect=2, ranks=2)
        self.assertIn("finished at step", result.stderr)
        self.assertEqual(file_bytes(self.path("past", "model.safetensors")), model)
        # More epochs train on from the finished run's last checkpoint.
        steps = json.loads(summary)["steps"]
        self.ringtrain(flags + ["--epochs", "5"], ranks=2)
        after = self.summary_of("past")
        self.assertEqual(after["resumed_at_step"], steps)
        self.assertEqual(after["steps"], steps * 5 // 4)

    def test_changed_learning_settings_are_refused_with_the_differences_named(self):
        flags = SMALL + ["--epochs", "1", "--output-dir", "sweep"]
        self.ringtrain(flags)
        for changed, line in ((["--lr", "0.1"], "lr: 0.05 there, 0.1 here"),
                              (["--momentum", "0.5"], "momentum: 0.9 there, 0.5 here"),
                              (["--weight-decay", "0.01"], "weight_decay: 0.0 there, 0.01 here"),
                              (["--lr-schedule", "cosine"], 'lr_schedule: "constant" there, "cosine" here'),
                              (["--precision", "bf16"], 'precision: "fp32" there, "bf16" here')):
            with self.subTest(changed=changed):
                result = self.ringtrain(flags + ["--epochs", "2"] + changed, expect=2)
                self.assertIn("belongs to a different run", result.stderr)
                self.assertIn(line, result.stderr)
        # A checkpoint named by path continues with the new settings, which the log lists.
        final = self.summary_of("sweep")["final_checkpoint"]
        result = self.ringtrain(SMALL + ["--epochs", "2", "--lr", "0.02", "--output-dir", "tuned",
                                         "--resume", final])
        self.assertIn("continuing with changed settings:\n  lr: 0.05 there, 0.02 here", result.stdout)
        self.assertEqual(self.summary_of("tuned")["resumed_at_step"], self.summary_of("sweep")["steps"])

    def test_every_run_gets_a_directory_of_its_own_and_an_interrupted_one_is_continued(self):
        first = self.ringtrain(SMALL + ["--epochs", "1"])
        runs = sorted(d for d in os.listdir(self.path("runs")) if d != "latest")
        self.assertEqual(len(runs), 1)
        self.assertEqual(os.readlink(self.path("runs", "latest")), runs[0])
        self.assertIn(f"output runs/{runs[0]}", first.stdout)
        model = file_bytes(self.path("runs", runs[0], "model.safetensors"))
        # A finished run's checkpoint is marked so; the next run starts anew beside it.
        self.assertTrue(manifest(checkpoints(self.path("runs", runs[0]))[-1])["state"]["position"]["finished"])
        self.ringtrain(SMALL + ["--epochs", "1", "--lr", "0.1"])
        runs = sorted(d for d in os.listdir(self.path("runs")) if d != "latest")
        self.assertEqual(len(runs), 2)
        self.assertEqual(os.readlink(self.path("runs", "latest")), runs[1])
        self.assertEqual(file_bytes(self.path("runs", runs[0], "model.safetensors")), model)

        # Interrupted, then the same command: it continues in the same directory.
        self.stopped_run(LONG)
        interrupted = os.readlink(self.path("runs", "latest"))
        stopped = self.summary_of(os.path.join("runs", interrupted))
        self.assertIsNone(stopped["val_loss"])  # stopped before any validation: not 0
        self.assertIsNone(stopped["validated_at_step"])
        self.assertFalse(manifest(checkpoints(self.path("runs", interrupted))[-1])["state"]["position"]["finished"])
        # Other settings do not continue it: a new run, and the log says why.
        other = self.ringtrain(LONG + ["--lr", "0.01"])
        self.assertIn(f"holds a run interrupted at step {stopped['steps']} with other settings", other.stdout)
        self.assertNotEqual(os.readlink(self.path("runs", "latest")), interrupted)
        # runs/latest moved on: the interrupted run is continued by naming its directory.
        self.ringtrain(LONG + ["--output-dir", os.path.join("runs", interrupted)])
        self.assertEqual(self.summary_of(os.path.join("runs", interrupted))["resumed_at_step"], stopped["steps"])

    def test_the_same_command_after_a_stop_continues_the_run_and_its_metrics(self):
        self.stopped_run(LONG)
        directory = os.readlink(self.path("runs", "latest"))
        out = self.path("runs", directory)
        stop = self.summary(out)["steps"]
        before = records(out)
        result = self.ringtrain(LONG)
        self.assertIn(f"continuing the run interrupted at step {stop} in runs/{directory}", result.stdout)
        self.assertEqual(os.readlink(self.path("runs", "latest")), directory)
        after = records(out)
        marker = next(i for i, r in enumerate(after) if r.get("event") == "resumed")
        # What was recorded up to the checkpoint stays, then the run goes on from it.
        self.assertEqual(after[:marker], [r for r in before if r["step"] <= stop])
        self.assertEqual(after[marker]["step"], stop)
        self.assertTrue(all(r["step"] > stop for r in after[marker + 1:]))
        self.assertEqual(after[-1]["step"], 2000)
        # A shorter run is another command: it starts anew rather than continue this one.
        self.stopped_run(LONG)
        directory = os.readlink(self.path("runs", "latest"))
        shorter = self.ringtrain([a if a != "2000" else "1000" for a in LONG])
        self.assertIn("max_steps: 2000 there, 1000 here", shorter.stdout)
        self.assertNotEqual(os.readlink(self.path("runs", "latest")), directory)

    def test_resume_none_keeps_the_earlier_checkpoints_aside(self):
        flags = SMALL + ["--output-dir", "again"]
        self.ringtrain(flags + ["--epochs", "2", "--checkpoint-every", "10"])
        earlier = [os.path.basename(p) for p in checkpoints(self.path("again"))]
        result = self.ringtrain(flags + ["--epochs", "1", "--resume", "none"])
        aside = glob.glob(self.path("again", "checkpoints-before-*"))
        self.assertEqual(len(aside), 1, result.stdout)
        self.assertEqual(sorted(os.listdir(aside[0])), earlier)
        # Only this run's final checkpoint is left to continue.
        self.assertEqual([os.path.basename(p) for p in checkpoints(self.path("again"))],
                         [f"step-{self.summary_of('again')['steps']:09d}"])

    def test_the_same_data_named_another_way_is_the_same_run(self):
        rng = np.random.default_rng(0)
        features = rng.normal(size=(300, 5))
        write_csv(self.path("train.csv"), (features[:, 0] > 0).astype(int), features)
        flags = ["--hidden", "8", "--progress", "off", "--threads", "1", "--output-dir", "csv",
                 "--checkpoint-every", "5"]
        self.ringtrain(["--train", "train.csv", "--epochs", "1"] + flags)
        steps = self.summary_of("csv")["steps"]
        self.ringtrain(["--train", "./train.csv", "--epochs", "2"] + flags)
        self.ringtrain(["--train", self.path("train.csv"), "--epochs", "3"] + flags)
        self.assertEqual(self.summary_of("csv")["resumed_at_step"], 2 * steps)
        # Another file under the same name is another run.
        write_csv(self.path("train.csv"), (features[:, 1] > 0).astype(int), features[:, ::-1] * 10)
        result = self.ringtrain(["--train", "train.csv", "--epochs", "4"] + flags, expect=2)
        self.assertIn("belongs to a different run:\n  train:", result.stderr)

    def test_a_shard_data_set_is_known_by_its_index(self):
        rng = np.random.default_rng(1)
        features = rng.normal(size=(300, 5))
        write_csv(self.path("a.csv"), (features[:, 0] > 0).astype(int), features)
        write_csv(self.path("b.csv"), (features[:, 1] > 0).astype(int), features * 3)
        prep = ["prep", "--output-dir", self.path("shards"), "--progress", "off", "--overwrite"]
        self.assertEqual(run(prep + ["--data", self.path("a.csv")]).returncode, 0)
        flags = ["--hidden", "8", "--progress", "off", "--threads", "1", "--output-dir", "sharded",
                 "--checkpoint-every", "5"]
        self.ringtrain(["--train", "shards:shards", "--epochs", "1"] + flags)
        steps = self.summary_of("sharded")["steps"]
        self.ringtrain(["--train", "shards:./shards/", "--epochs", "2"] + flags)
        self.assertEqual(self.summary_of("sharded")["resumed_at_step"], steps)
        # The same directory converted from other data is another data set.
        self.assertEqual(run(prep + ["--data", self.path("b.csv")]).returncode, 0)
        result = self.ringtrain(["--train", "shards:shards", "--epochs", "3"] + flags, expect=2)
        self.assertIn("belongs to a different run:\n  train:", result.stderr)

    def test_summary_records_every_setting_of_the_run(self):
        self.ringtrain(SMALL + ["--epochs", "1", "--output-dir", "out", "--lr", "0.03", "--seed", "5"])
        summary = self.summary_of("out")
        settings = summary["settings"]
        self.assertEqual(settings["lr"], 0.03)
        self.assertEqual(settings["seed"], 5)
        self.assertEqual(settings["train"], "synthetic:2000")
        self.assertEqual(summary["validated_at_step"], summary["steps"])
        help_text = run(["train", "--help"]).stdout
        flags = set(re.findall(r"^\s+(?:-\w, )?--([a-z0-9-]+)", help_text, re.M))
        self.assertGreater(len(flags), 50)
        # Flags that are another flag's negation or folded into another setting.
        folded = {"help": None, "no-shuffle": "shuffle", "no-overlap": "overlap", "code-size": "hidden"}
        for flag in sorted(flags):
            key = folded.get(flag, flag.replace("-", "_"))
            if key is not None:
                self.assertIn(key, settings, f"--{flag} is not recorded in summary.json")
        # Those settings reproduce the run.
        pipeline_only = {"micro_batches", "schedule", "partition", "pipeline_check_messages"}
        args = [] if settings["shuffle"] else ["--no-shuffle"]
        for key, value in settings.items():
            if value is None or key in ("output_dir", "shuffle") or (key, value) == ("num_classes", "auto"):
                continue
            if key in pipeline_only and settings["pipeline_stages"] == 1:
                continue
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                args += [flag] if value else []
            elif key == "hidden":
                args += [flag, ",".join(str(v) for v in value)]
            else:
                args += [flag, str(value)]
        self.ringtrain(args + ["--output-dir", "again"])
        self.assertEqual(file_bytes(self.path("again", "model.safetensors")),
                         file_bytes(self.path("out", "model.safetensors")))


if __name__ == "__main__":
    unittest.main()
