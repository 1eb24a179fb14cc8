"""Lets libraries built on Debian 12 (glibc 2.36) load on a box with an older glibc, down to the
2.34 that ringtrain's own binaries need, where the only newer thing they use is arc4random
(added in glibc 2.36; libevent, which Open MPI needs, calls it for random numbers).

For such a library: the version requirement of those symbols is cleared, the requirement of the
newer glibc version is marked weak (the loader then only notes it missing instead of refusing to
load), and a small library that implements them with getrandom() is added to what it needs. Where
glibc has them, its own come first in the symbol search and are used.
"""
import os
import re
import struct
import subprocess

SHIMMED = {"arc4random": (2, 36), "arc4random_buf": (2, 36), "arc4random_uniform": (2, 36)}
SHIM_NAME = "libringtrain-glibc-compat.so"
SHIM_SOURCE = r"""
/* arc4random for glibc older than 2.36: bundled libraries that call it load there too. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

/* getrandom(), or /dev/urandom where a kernel or a seccomp filter refuses it; never a weak value. */
void arc4random_buf(void* buffer, size_t size) {
  unsigned char* next = buffer;
  int device = -1;
  while (size > 0) {
    ssize_t got = -1;
    if (device < 0) {
      got = getrandom(next, size, 0);
      if (got < 0 && errno != EINTR) {
        device = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (device < 0) abort();
      }
    } else {
      got = read(device, next, size);
      if (got == 0 || (got < 0 && errno != EINTR)) abort();
    }
    if (got > 0) {
      next += got;
      size -= (size_t)got;
    }
  }
  if (device >= 0) close(device);
}

uint32_t arc4random(void) {
  uint32_t value;
  arc4random_buf(&value, sizeof value);
  return value;
}

uint32_t arc4random_uniform(uint32_t bound) {
  if (bound < 2) return 0;
  const uint32_t floor = (uint32_t)-bound % bound; /* reject the values that would bias */
  for (;;) {
    const uint32_t value = arc4random();
    if (value >= floor) return value % bound;
  }
}
"""

VER_FLG_WEAK = 0x2
SHT_GNU_VERNEED = 0x6FFFFFFE


def glibc_symbols(elf):
    """{symbol: (major, minor)} of the undefined GLIBC-versioned symbols `elf` needs."""
    result = subprocess.run(["objdump", "-T", elf], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"objdump -T {elf} failed: {result.stderr.strip()}")
    out = result.stdout
    found = {}
    for line in out.splitlines():
        match = re.search(r"\*UND\*\s+\S+\s+(?:\(GLIBC_(\d+)\.(\d+)\)|GLIBC_(\d+)\.(\d+))\s+(\S+)$", line)
        if match:
            major, minor = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
            found[match.group(5)] = (int(major), int(minor))
    return found


def glibc_required(elfs):
    """The newest glibc version any of `elfs` needs, as "2.34"."""
    newest = (2, 0)
    for elf in elfs:
        for version in glibc_symbols(elf).values():
            newest = max(newest, version)
    return f"{newest[0]}.{newest[1]}"


def glibcxx_required(elfs):
    """The newest libstdc++ symbol version any of `elfs` needs, as "GLIBCXX_3.4.30"."""
    newest = 0
    for elf in elfs:
        out = subprocess.run(["objdump", "-T", elf], capture_output=True, text=True).stdout
        newest = max([newest] + [int(n) for n in re.findall(r"GLIBCXX_3\.4\.(\d+)", out)])
    return f"GLIBCXX_3.4.{newest}"


def version_needs(data):
    """(offset of the Vernaux entry, version name) for every symbol version an ELF file's bytes
    require (its .gnu.version_r section)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a little-endian 64-bit ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    for _, kind, _, _, offset, _, link, info, _, _ in sections:
        if kind != SHT_GNU_VERNEED:
            continue
        strings = sections[link][4]
        entry = offset
        for _ in range(info):
            _, count, _, aux, following = struct.unpack_from("<HHIII", data, entry)
            at = entry + aux
            for _ in range(count):
                _, _, _, name, after = struct.unpack_from("<IHHII", data, at)
                end = data.index(b"\0", strings + name)
                yield at, data[strings + name:end].decode()
                at += after
            entry += following


def weaken_version_need(path, version):
    """Marks the requirement of symbol version `version` (e.g. GLIBC_2.36) weak in `path`."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        found = [at for at, name in version_needs(data) if name == version]
        for at in found:
            flags, = struct.unpack_from("<H", data, at + 4)
            struct.pack_into("<H", data, at + 4, flags | VER_FLG_WEAK)
        if found:
            f.seek(0)
            f.write(data)
    return bool(found)


def build_shim(directory):
    """Compiles the arc4random library into `directory`; returns its path."""
    source = os.path.join(directory, "glibc-compat.c")
    with open(source, "w") as f:
        f.write(SHIM_SOURCE)
    shim = os.path.join(directory, SHIM_NAME)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-Wall", "-Werror", f"-Wl,-soname,{SHIM_NAME}", "-o", shim,
                    source], check=True)
    os.remove(source)
    return shim


def loosen(path, shim_directory):
    """Makes `path` loadable on glibc 2.34 and 2.35 if arc4random is all it needs of 2.36; returns
    whether it changed it."""
    newer = {s: v for s, v in glibc_symbols(path).items() if v > (2, 35)}
    if not newer or not set(newer) <= set(SHIMMED):
        return False
    if not os.path.exists(os.path.join(shim_directory, SHIM_NAME)):
        build_shim(shim_directory)
    command = ["patchelf"]
    for symbol in newer:
        command += ["--clear-symbol-version", symbol]
    subprocess.run(command + ["--add-needed", SHIM_NAME, path], check=True)
    for version in sorted(set(newer.values())):
        name = f"GLIBC_{version[0]}.{version[1]}"
        if not weaken_version_need(path, name):
            raise RuntimeError(f"{path}: found no requirement of {name} to weaken")
    return True
