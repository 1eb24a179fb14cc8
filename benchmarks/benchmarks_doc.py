"""Rewriting one benchmark's section of docs/BENCHMARKS.md, leaving the others as they are."""
import os
import re


def replace_section(path, begin, end, section):
    """Puts `section` (which starts with the line `begin` and ends with `end`) where the text from
    `begin` to `end` stands in `path`, or at the end of the file if it has none."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end) + "\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)
