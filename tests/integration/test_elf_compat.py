"""scripts/lib/elf_compat.py: a library built here that calls arc4random (glibc 2.36) still loads
and works where glibc lacks that version, once loosened; without that, the loader refuses it. A
glibc without the version is simulated by spoiling the version's hash in the library's
requirement, so that the loader cannot match it: what it does on glibc 2.34 or 2.35."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "lib"))
import elf_compat  # noqa: E402

CALLER = r"""
#include <stdint.h>
#include <stdlib.h>
uint32_t draw(void) { return arc4random(); }
"""


def spoil_version(path, version):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        for at, name in elf_compat.version_needs(data):
            if name == version:
                struct.pack_into("<I", data, at, 0x0BADF00D)  # vna_hash: no glibc version matches it
        f.seek(0)
        f.write(data)


def load_and_draw(library, search_path):
    code = f"import ctypes; lib = ctypes.CDLL({library!r}); print(len({{lib.draw() for _ in range(64)}}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, LD_LIBRARY_PATH=search_path))


@unittest.skipUnless(shutil.which("cc") and shutil.which("patchelf"), "needs cc and patchelf")
class ElfCompatTest(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory(prefix="ringtrain-elf-compat-")
        self.dir = self._dir.name
        source = os.path.join(self.dir, "caller.c")
        with open(source, "w") as f:
            f.write(CALLER)
        self.library = os.path.join(self.dir, "libcaller.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", self.library, source], check=True)
        if elf_compat.glibc_symbols(self.library).get("arc4random") != (2, 36):
            self.skipTest("this glibc's arc4random is not the 2.36 one")

    def tearDown(self):
        self._dir.cleanup()

    def test_a_loosened_library_loads_without_glibc_2_36_and_draws_random_numbers(self):
        self.assertTrue(elf_compat.loosen(self.library, self.dir))
        self.assertNotIn("arc4random", elf_compat.glibc_symbols(self.library))
        spoil_version(self.library, "GLIBC_2.36")
        result = load_and_draw(self.library, self.dir)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertGreater(int(result.stdout), 60, "64 draws should be nearly all different")

    def test_the_bundles_arc4random_draws_uniform_random_numbers(self):
        # Where glibc has arc4random its own is used; this is the one the bundle brings for where
        # it has not, called directly.
        shim = elf_compat.build_shim(self.dir)
        code = f"""
import collections, ctypes
lib = ctypes.CDLL({shim!r})
lib.arc4random.restype = ctypes.c_uint32
lib.arc4random_uniform.restype = ctypes.c_uint32
lib.arc4random_uniform.argtypes = [ctypes.c_uint32]
values = {{lib.arc4random() for _ in range(1000)}}
counts = collections.Counter(lib.arc4random_uniform(10) for _ in range(10000))
buffer = (ctypes.c_ubyte * 4096)()
lib.arc4random_buf(buffer, ctypes.c_size_t(4096))
print(json.dumps([len(values), sorted(counts), min(counts.values()), max(counts.values()), len(set(buffer))]))
"""
        result = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        distinct, seen, fewest, most, byte_values = json.loads(result.stdout)
        self.assertGreater(distinct, 995, "1000 draws of 32 bits repeat almost never")
        self.assertEqual(seen, list(range(10)), "arc4random_uniform(10) gives 0..9, all of them")
        self.assertGreater(fewest, 850)  # 1000 expected each; 850..1150 is over 4.5 standard deviations
        self.assertLess(most, 1150)
        self.assertGreater(byte_values, 240, "4096 random bytes take almost every value")

    def test_without_loosening_the_loader_refuses_it(self):
        spoil_version(self.library, "GLIBC_2.36")
        result = load_and_draw(self.library, self.dir)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("version `GLIBC_2.36' not found", result.stderr)

    def test_a_library_that_needs_more_of_glibc_2_36_is_left_alone(self):
        # Only arc4random is provided; a library that also needs pidfd_open (glibc 2.36) keeps its
        # requirement, and the version check reports it.
        source = os.path.join(self.dir, "more.c")
        with open(source, "w") as f:
            f.write(CALLER + "#include <sys/pidfd.h>\nint open_self(void) { return pidfd_open(1, 0); }\n")
        more = os.path.join(self.dir, "libmore.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", more, source], check=True)
        with open(more, "rb") as f:
            before = f.read()
        self.assertFalse(elf_compat.loosen(more, self.dir))
        with open(more, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(elf_compat.glibc_required([more]), "2.36")

if __name__ == "__main__":
    unittest.main()
