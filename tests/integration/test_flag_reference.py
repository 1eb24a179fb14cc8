"""Every flag of every command appears in the page that documents the command, and every flag of
`ringtrain train` in the SageMaker hyperparameter table (except those the container sets)."""
import os
import re
import unittest

from ringtrain_testing import run

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PAGES = {
    "train": "docs/commands.md", "eval": "docs/commands.md", "predict": "docs/commands.md", "generate": "docs/commands.md", "shard-plan": "docs/commands.md",
    "pipeline-plan": "docs/commands.md", "bench-comm": "docs/commands.md", "prep": "docs/commands.md",
    "check-data": "docs/commands.md", "bench-data": "docs/commands.md", "info": "docs/commands.md",
    "doctor": "docs/commands.md",
    "kmeans": "docs/unsupervised.md", "pca": "docs/unsupervised.md",
}
# The container chooses these itself (sagemaker/README.md says so).
CONTAINER_FLAGS = {"output-dir", "checkpoint-dir", "progress", "help"}


def flags_of(command):
    result = run([command, "--help"])
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"^\s{1,8}(?:-\w, )?--([a-z0-9-]+)", result.stdout, re.M)) - {"help"}


def mentioned(flag, text):
    return re.search(r"--" + re.escape(flag) + r"(?![a-z0-9-])", text) is not None


class FlagReference(unittest.TestCase):
    def test_every_flag_is_in_its_commands_reference_page(self):
        listed = run(["--help"]).stdout
        commands = re.findall(r"^  ([a-z-]+)\s", listed, re.M)
        self.assertEqual(sorted(set(commands) - {"sagemaker"}), sorted(PAGES))
        for command, page in PAGES.items():
            with open(os.path.join(ROOT, page)) as f:
                text = f.read()
            flags = flags_of(command)
            self.assertTrue(flags or command in ("info", "doctor"), command)
            for flag in sorted(flags):
                with self.subTest(command=command, flag=flag):
                    self.assertTrue(mentioned(flag, text), f"--{flag} of {command} is not in {page}")

    def test_every_train_flag_is_a_documented_hyperparameter(self):
        with open(os.path.join(ROOT, "sagemaker", "README.md")) as f:
            table = set(re.findall(r"^\| `([a-z0-9_]+)` \|", f.read(), re.M))
        for flag in sorted(flags_of("train") - CONTAINER_FLAGS):
            with self.subTest(flag=flag):
                self.assertIn(flag.replace("-", "_"), table)


if __name__ == "__main__":
    unittest.main()
