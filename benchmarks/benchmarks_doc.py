"""Rewriting one benchmark's section of docs/BENCHMARKS.md, leaving the others as they are, and the
revision it measured."""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git_revision():
    """The short hash of the checkout's HEAD, or "unknown" outside a git checkout."""
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def replace_section(path, begin, end, section):
    """Puts `section` (which starts with the line `begin` and ends with `end`) where the text from
    `begin` to `end` stands in `path`, or at the end of the file if it has none."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end) + "\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)
