"""Each source file includes the standard headers of the C library functions it calls. GCC 13's
libstdc++ (the container image's compiler) no longer includes <cstdio> and <cstdint> through its
other headers, so a file that relied on that compiles here (GCC 12) and fails in the image; Debian
12 has no GCC 13 to compile with, so the rule is checked on the sources: for the names written
with `std::` (unqualified ones mostly come from C headers such as <unistd.h>, which declare them
themselves), outside comments and strings."""
import os
import re
import unittest

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
FOLDERS = ("src", "include", "kernels", "tests/unit", "tests/mpi", "tests/fuzz", "examples", "sagemaker")
# (what a file uses, the headers that declare it)
RULES = [
    (re.compile(r"\bstd::(printf|fprintf|snprintf|sprintf|fopen|fclose|fflush|fputs|fgets|perror|fwrite|fread|"
                r"remove|rename|fileno)\s*\(|\bstd::FILE\b"), re.compile(r"#include <(cstdio|stdio\.h)>")),
    (re.compile(r"\bstd::u?int(8|16|32|64)_t\b"), re.compile(r"#include <(cstdint|stdint\.h)>")),
]


def code_of(text):
    """The text without comments and string literals."""
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


class IncludesTest(unittest.TestCase):
    def test_c_library_functions_come_with_their_headers(self):
        missing = []
        for folder in FOLDERS:
            for directory, _, files in os.walk(os.path.join(ROOT, folder)):
                for name in files:
                    if not name.endswith((".cpp", ".h", ".cu", ".cuh", ".c")):
                        continue
                    path = os.path.join(directory, name)
                    with open(path, errors="replace") as f:
                        text = f.read()
                    for uses, header in RULES:
                        found = uses.search(code_of(text))
                        if found and not header.search(text):
                            missing.append(f"{os.path.relpath(path, ROOT)}: {found.group(0).strip()} without {header.pattern}")
        self.assertEqual(missing, [])


if __name__ == "__main__":
    unittest.main()
