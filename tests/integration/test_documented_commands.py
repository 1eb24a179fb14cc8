"""Every program the documentation tells users to run by its path (`scripts/run.sh`,
`tools/spec_to_torch.py MODEL ...`) exists, has its run bit and starts with a #! line; every
`python3 FILE` the documentation shows names a file that exists."""
import glob
import os
import re
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCUMENTS = ["README.md", "sagemaker/README.md"] + sorted(
    os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, "docs", "*.md")))
PROGRAM = re.compile(r"(?:\./)?((?:scripts|tools|benchmarks|sagemaker|examples)/[\w./-]+)")


def code_spans(text):
    """(document line, code, fenced) for every line of a fenced block and every inline `code` span
    (which may run over a line break)."""
    prose, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            prose.append("")
        elif fenced:
            prose.append("")
            yield number, line.strip(), True
        else:
            prose.append(line)
    joined = "\n".join(prose)
    for span in re.finditer(r"`([^`]+)`", joined):
        yield joined.count("\n", 0, span.start()) + 1, " ".join(span.group(1).split()), False


def invocations(text):
    """(line, path, how): how is 'direct' for a program run by its path, 'interpreter' for
    `python3 FILE` or `bash FILE`."""
    for number, code, fenced in code_spans(text):
        code = code.removeprefix("$ ")
        words = code.split()
        if not words:
            continue
        if words[0] in ("python3", "python", "bash", "sh") and len(words) > 1 and PROGRAM.fullmatch(words[1]):
            yield number, PROGRAM.fullmatch(words[1]).group(1), "interpreter"
            continue
        match = PROGRAM.fullmatch(words[0])
        # A path alone in running text names a file; in a code block or with arguments, it is a
        # command.
        if match and (fenced or len(words) > 1):
            yield number, match.group(1), "direct"


class DocumentedCommands(unittest.TestCase):
    def test_documented_programs_can_be_run_as_shown(self):
        seen = set()
        for document in DOCUMENTS:
            with open(os.path.join(ROOT, document)) as f:
                text = f.read()
            for number, path, how in invocations(text):
                where = f"{document}:{number}: {path}"
                full = os.path.join(ROOT, path)
                self.assertTrue(os.path.isfile(full), f"{where} does not exist")
                seen.add(path)
                if how == "direct":
                    self.assertTrue(os.access(full, os.X_OK), f"{where} is run by its path but has no run bit")
                    with open(full, "rb") as f:
                        self.assertEqual(f.read(2), b"#!", f"{where} is run by its path but has no #! line")
        # The scan found the commands it is meant to check.
        for expected in ("scripts/run.sh", "scripts/test.sh", "tools/spec_to_torch.py", "sagemaker/local_job.py"):
            self.assertIn(expected, seen)


if __name__ == "__main__":
    unittest.main()
