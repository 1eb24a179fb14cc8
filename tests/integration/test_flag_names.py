"""One concept, one flag name and one default in every command; the former names still work; no
flag's help states its default twice."""
import json
import os
import re
import unittest

from ringtrain_testing import RingtrainTestCase, run, write_csv

COMMANDS = ["train", "eval", "predict", "kmeans", "pca", "shard-plan", "pipeline-plan", "bench-comm", "prep",
            "check-data", "bench-data"]


def help_entries(command):
    """{flag: its whole help entry} from `ringtrain COMMAND --help`."""
    result = run([command, "--help"])
    assert result.returncode == 0, result.stderr
    entries = re.split(r"\n(?=\s{1,8}(?:-\w, )?--)", result.stdout)
    found = {}
    for entry in entries:
        name = re.match(r"\s{1,8}(?:-\w, )?--([a-z0-9-]+)", entry)
        if name:
            found[name.group(1)] = " ".join(entry.split())
    return found


class FlagNames(RingtrainTestCase):
    def test_no_flag_states_its_default_twice(self):
        for command in COMMANDS:
            for flag, entry in help_entries(command).items():
                with self.subTest(command=command, flag=flag):
                    self.assertLessEqual(entry.count("default"), 1, entry)

    def test_a_concept_has_one_name_and_one_default_across_commands(self):
        helps = {command: help_entries(command) for command in COMMANDS}
        # The seed: shard-plan shows the samples `train` reads with its default seed.
        for command in ("train", "kmeans", "pca", "shard-plan"):
            with self.subTest(command=command):
                self.assertIn("(default: 42)", helps[command]["seed"])
        # Scoring a model takes the seed its training used, which its model file records.
        for command in ("eval", "predict"):
            self.assertIn("else 42", helps[command]["seed"])
        # The data a command reads is --data (train's --train/--val split it in two), a directory
        # it writes --output-dir, a file it writes --output; pipeline stages are --pipeline-stages.
        for command in ("eval", "predict", "kmeans", "pca", "prep"):
            self.assertIn("data", helps[command], command)
        for command in ("train", "kmeans", "pca", "prep"):
            self.assertIn("output-dir", helps[command], command)
        for command in ("train", "pipeline-plan"):
            self.assertIn("pipeline-stages", helps[command], command)
        for command in COMMANDS:
            self.assertNotIn("input", helps[command], command)
            self.assertNotIn("stages", helps[command], command)

    def test_the_former_names_still_work(self):
        write_csv(self.path("t.csv"), [0, 1, 0, 1], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
        old = run(["prep", "--input", self.path("t.csv"), "--output", self.path("old"), "--progress", "off"])
        new = run(["prep", "--data", self.path("t.csv"), "--output-dir", self.path("new"), "--progress", "off"])
        self.assertEqual(old.returncode, 0, old.stderr)
        self.assertEqual(new.returncode, 0, new.stderr)
        with open(os.path.join(self.path("old"), "index.json")) as a, open(os.path.join(self.path("new"), "index.json")) as b:
            self.assertEqual(json.load(a)["count"], json.load(b)["count"])
        plans = [run(["pipeline-plan", flag, "2", "--micro-batches", "4"]) for flag in ("--stages", "--pipeline-stages")]
        self.assertEqual(plans[0].returncode, 0, plans[0].stderr)
        self.assertEqual(plans[0].stdout, plans[1].stdout)
        self.assertEqual(json.loads(plans[0].stdout)["stages"], 2)
        trained = self.train("data", ["--data", self.path("t.csv"), "--val", "none", "--epochs", "1", "--hidden", "2"])
        self.assertEqual(self.summary(trained)["train_samples"], 4)


if __name__ == "__main__":
    unittest.main()
