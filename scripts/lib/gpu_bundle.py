"""Packs what a bare GPU box lacks into one archive: ringtrain's binaries, the Open MPI runtime set
up for one machine, and every other shared library that the target's torch installation does not
bring. LibTorch, the CUDA libraries and NCCL come from the target's own `pip install torch`; the
driver from the target. Used by scripts/gpu-bundle.sh; the archive is read by
scripts/gpu-smoke.sh --bundle.

Layout of the archive (one top directory, ringtrain-gpu-bundle/):
  bin/        ringtrain, the GPU and MPI test binaries, mpirun (Open MPI's orterun), orted, ompi_info
  lib/        libringtrain.so and every bundled shared library, by soname, without run paths
  lib/fallback/  libstdc++, used only where the box's own is older than ringtrain needs
  openmpi/    Open MPI's components (lib/openmpi3), help texts (share/openmpi) and settings (etc)
  pmix/       PMIx's components (lib/pmix)
  env.sh      sets the loader path and Open MPI's locations for a given torch installation
  manifest.json  what it was built with and which libraries it expects from the target
"""
import argparse
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

import elf_compat

TOP = "ringtrain-gpu-bundle"
# The C library and the loader, which every Linux has and which must match each other; and
# libgcc_s, of which ringtrain needs nothing newer than GCC 4.2's.
SYSTEM_LIBRARIES = {"linux-vdso.so.1", "ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libdl.so.2",
                    "librt.so.1", "libpthread.so.0", "libutil.so.1", "libresolv.so.2", "libgcc_s.so.1"}
# Every Linux has this too; ours is used only where the box's is too old (env.sh decides).
FALLBACK_LIBRARIES = {"libstdc++.so.6"}
# The driver's library, which only the target's driver installation may provide.
DRIVER_LIBRARIES = {"libcuda.so.1", "libnvidia-ml.so.1"}
# Open MPI components for networks a one-GPU box has none of (InfiniBand, EFA, Omni-Path, UCX)
# and for OpenSHMEM; the libraries they need are left out, and the components with them.
NETWORK_LIBRARY = re.compile(r"^lib(uc[mpst]|psm|psm2|psm_infinipath|infinipath|ibverbs|rdmacm|fabric|efa|"
                             r"nl-3|nl-route-3|oshmem)\b")
# A single machine, no network, and a sandbox that may refuse one process reading another's memory
# (the single-copy transfers of the shared-memory transport).
MCA_PARAMETERS = """# Open MPI settings of the ringtrain GPU bundle: one machine, shared memory, no single-copy
btl = self,vader
btl_vader_single_copy_mechanism = none
btl_base_warn_component_unused = 0
pml = ob1
mtl = ^ofi
osc = ^ucx,pt2pt
plm = isolated
oob_tcp_if_include = lo
rmaps_base_oversubscribe = true
hwloc_base_binding_policy = none
"""


# ldd as the system's loader sees it: no library path or preload of the caller's (a conda
# environment's libstdc++, say) may decide what goes into the bundle.
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
MISSING = "not found"


def resolved_libraries(elf):
    """{soname: path, or MISSING} of what the loader finds for `elf` on this machine (ldd)."""
    result = subprocess.run(["ldd", elf], capture_output=True, text=True, env=CLEAN_ENV)
    if result.returncode != 0:
        sys.exit(f"gpu-bundle: ldd {elf} failed: {result.stdout}{result.stderr}")
    found = {}
    for line in result.stdout.splitlines():
        match = re.match(r"\s*(\S+)\s+=>\s+(not found|\S+)", line)
        if match:
            found[match.group(1)] = MISSING if match.group(2) == MISSING else match.group(2)
    return found  # the loader itself and the vDSO (lines without =>) are every system's own


def torch_libraries(python):
    """Sonames the torch wheel brings (torch/lib and the nvidia-* wheels), and torch's versions."""
    probe = subprocess.run([python, "-c", """
import json, os, torch
site = os.path.dirname(os.path.dirname(torch.__file__))
dirs = [os.path.join(os.path.dirname(torch.__file__), "lib")]
nvidia = os.path.join(site, "nvidia")
if os.path.isdir(nvidia):
    for root, subdirs, files in os.walk(nvidia):
        if os.path.basename(root) == "lib":
            dirs.append(root)
names = sorted({f for d in dirs for f in os.listdir(d) if ".so" in f})
nccl = ".".join(map(str, torch.cuda.nccl.version())) if torch.version.cuda else None
print(json.dumps({"names": names, "torch": torch.__version__, "cuda": torch.version.cuda, "nccl": nccl}))
"""], capture_output=True, text=True, check=True)
    return json.loads(probe.stdout)


class Bundle:
    def __init__(self, root, provided):
        self.root = root
        self.provided = set(provided)
        self.libraries = {}  # soname -> source path, bundled in lib/
        self.expected = set()  # sonames the target's torch must provide

    def loads_without_network_libraries(self, elf):
        """Whether `elf` needs none of the libraries of networks a one-GPU box lacks, and finds all
        it needs here."""
        needs = resolved_libraries(elf)
        return not any(NETWORK_LIBRARY.match(n) or p == MISSING for n, p in needs.items())

    def add_dependencies(self, elf):
        for name, path in resolved_libraries(elf).items():
            if name in SYSTEM_LIBRARIES or name in self.libraries:
                continue
            if name in self.provided or name in DRIVER_LIBRARIES:
                self.expected.add(name)
                continue
            if NETWORK_LIBRARY.match(name):
                sys.exit(f"gpu-bundle: {elf} needs the network library {name}")
            if path == MISSING:
                sys.exit(f"gpu-bundle: {elf} needs {name}, which is not found on this machine")
            self.libraries[name] = os.path.realpath(path)
            self.add_dependencies(path)

    def copy(self, source, relative, elf=True):
        target = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.realpath(source), target)
        os.chmod(target, 0o755 if elf else 0o644)
        if elf:
            # Run paths of this machine must not decide what loads there; env.sh sets the path.
            subprocess.run(["patchelf", "--remove-rpath", target], check=True)
            self.add_dependencies(source)
        return target

    def copy_libraries(self):
        for name, source in sorted(self.libraries.items()):
            target = os.path.join(self.root, "lib", "fallback" if name in FALLBACK_LIBRARIES else "", name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                shutil.copy2(source, target)
                os.chmod(target, 0o755)
                subprocess.run(["patchelf", "--remove-rpath", target], check=True)


ENV_SH = r"""# Sourced by scripts/gpu-smoke.sh --bundle: `. env.sh TORCH_SITE_PACKAGES`.
bundle=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
site=$1
torch_libs="$site/torch/lib"
for d in "$site"/nvidia/*/lib "$site"/nvidia/*/*/lib; do [ -d "$d" ] && torch_libs="$torch_libs:$d"; done
# The bundle's libstdc++ only where the libstdc++ the loader would find lacks what ringtrain needs
# (RINGTRAIN_BUNDLE_LIBSTDCXX=bundle or system decides instead): the first in the library path
# that is there now (a conda environment's, say), else the system's.
box_libstdcxx=
for d in ${LD_LIBRARY_PATH//:/ }; do
  if [ -z "$box_libstdcxx" ] && [ -e "$d/libstdc++.so.6" ]; then box_libstdcxx="$d/libstdc++.so.6"; fi
done
if [ -z "$box_libstdcxx" ]; then
  box_libstdcxx=$( (/sbin/ldconfig -p || ldconfig -p) 2>/dev/null |
    awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}' || true)
fi
choice=${RINGTRAIN_BUNDLE_LIBSTDCXX:-auto}
if [ "$choice" = system ] || { [ "$choice" = auto ] && [ -n "$box_libstdcxx" ] &&
  grep -qaF "@GLIBCXX@" "$box_libstdcxx"; }; then
  export RINGTRAIN_BUNDLE_FALLBACK=0
  fallback=
else
  export RINGTRAIN_BUNDLE_FALLBACK=1
  fallback="$bundle/lib/fallback:"
fi
export LD_LIBRARY_PATH="$fallback$bundle/lib:$torch_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$bundle/bin:$PATH"
# Open MPI and PMIx look for their parts where they were installed unless told otherwise.
export OPAL_PREFIX="$bundle/openmpi" OPAL_EXEC_PREFIX="$bundle/openmpi" OPAL_BINDIR="$bundle/bin"
export OPAL_LIBDIR="$bundle/lib" OPAL_PKGLIBDIR="$bundle/openmpi/lib/openmpi3"
export OPAL_DATADIR="$bundle/openmpi/share" OPAL_DATAROOTDIR="$bundle/openmpi/share"
export OPAL_PKGDATADIR="$bundle/openmpi/share/openmpi" OPAL_SYSCONFDIR="$bundle/openmpi/etc"
export PMIX_PREFIX="$bundle/pmix" PMIX_INSTALL_PREFIX="$bundle/pmix" PMIX_LIBDIR="$bundle/lib" PMIX_PKGLIBDIR="$bundle/pmix/lib/pmix"
export PMIX_DATADIR="$bundle/pmix/share" PMIX_PKGDATADIR="$bundle/pmix/share/pmix"
export PMIX_MCA_mca_base_component_path="$bundle/pmix/lib/pmix"
export OMPI_MCA_mca_base_param_files="$bundle/openmpi/etc/openmpi-mca-params.conf"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", required=True, help="the CUDA build directory")
    parser.add_argument("--python", required=True, help="the Python with the torch wheel built against")
    parser.add_argument("--output", required=True, help="the archive to write (.tar.gz)")
    args = parser.parse_args()

    wheel = torch_libraries(args.python)
    if not wheel["cuda"]:
        sys.exit("gpu-bundle: the torch of this Python has no CUDA")
    scratch = tempfile.mkdtemp(prefix="ringtrain-gpu-bundle-")
    try:
        root = os.path.join(scratch, TOP)
        bundle = Bundle(root, wheel["names"])
        binaries = {"ringtrain": os.path.join(args.build, "ringtrain"),
                    "ringtrain_unit_tests": os.path.join(args.build, "tests", "ringtrain_unit_tests"),
                    "ringtrain_mpi_tests": os.path.join(args.build, "tests", "ringtrain_mpi_tests")}
        for name, path in binaries.items():
            if not os.path.exists(path):
                sys.exit(f"gpu-bundle: {path} is missing; build it first")
            bundle.copy(path, os.path.join("bin", name))
        bundle.copy(os.path.join(args.build, "libringtrain.so"), os.path.join("lib", "libringtrain.so"))
        for tool in ("orterun", "orted", "ompi_info"):
            bundle.copy(shutil.which(tool), os.path.join("bin", tool))
        os.symlink("orterun", os.path.join(root, "bin", "mpirun"))

        # Open MPI's and PMIx's plug-ins, where env.sh tells them to look.
        ompi_info = subprocess.run(["ompi_info", "--path", "pkglibdir", "--parsable"], capture_output=True,
                                   text=True, check=True).stdout
        pkglibdir = re.search(r"path:pkglibdir:(\S+)", ompi_info).group(1)
        pkgdatadir = re.search(r"path:pkgdatadir:(\S+)", subprocess.run(
            ["ompi_info", "--path", "pkgdatadir", "--parsable"], capture_output=True, text=True).stdout).group(1)
        left_out = []
        for component in sorted(glob.glob(os.path.join(pkglibdir, "*.so"))):
            if bundle.loads_without_network_libraries(component):
                bundle.copy(component, os.path.join("openmpi", "lib", "openmpi3", os.path.basename(component)))
            else:
                left_out.append(os.path.basename(component))
        pmix_library = resolved_libraries(os.path.join(pkglibdir, "mca_pmix_ext3x.so")).get("libpmix.so.2")
        if pmix_library:
            pmix_lib = os.path.dirname(os.path.realpath(pmix_library))
            for component in glob.glob(os.path.join(pmix_lib, "pmix", "*.so")):
                bundle.copy(component, os.path.join("pmix", "lib", "pmix", os.path.basename(component)))
            help_texts = os.path.join(os.path.dirname(pmix_lib), "share", "pmix")  # Debian: pmix2/share/pmix
            if os.path.isdir(help_texts):
                shutil.copytree(help_texts, os.path.join(root, "pmix", "share", "pmix"))
        shutil.copytree(pkgdatadir, os.path.join(root, "openmpi", "share", "openmpi"))
        os.makedirs(os.path.join(root, "openmpi", "etc"))
        with open(os.path.join(root, "openmpi", "etc", "openmpi-mca-params.conf"), "w") as f:
            f.write(MCA_PARAMETERS)
        open(os.path.join(root, "openmpi", "etc", "openmpi-default-hostfile"), "w").close()
        bundle.copy_libraries()
        elfs = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
                if (f.endswith(".so") or ".so." in f or d.endswith("/bin")) and not os.path.islink(os.path.join(d, f))]
        fallback = os.path.join(root, "lib", "fallback")
        ours = [e for e in elfs if not e.startswith(fallback + os.sep)]
        loosened = [os.path.relpath(e, root) for e in elfs if elf_compat.loosen(e, os.path.join(root, "lib"))]
        if os.path.exists(os.path.join(root, "lib", elf_compat.SHIM_NAME)):
            ours.append(os.path.join(root, "lib", elf_compat.SHIM_NAME))
        glibcxx = elf_compat.glibcxx_required(ours)
        with open(os.path.join(root, "env.sh"), "w") as f:
            f.write(ENV_SH.replace("@GLIBCXX@", glibcxx))

        with open(os.path.join(args.build, "CMakeCache.txt")) as cache:
            architectures = re.search(r"^CMAKE_CUDA_ARCHITECTURES:\w+=(.*)$", cache.read(), re.M).group(1)
        manifest = {
            "built_with": {"torch": wheel["torch"], "cuda": wheel["cuda"], "nccl": wheel["nccl"],
                           "cuda_architectures": architectures, "machine": platform.machine()},
            "glibc_required": elf_compat.glibc_required(ours),
            "fallback": {"libraries": sorted(os.listdir(fallback)) if os.path.isdir(fallback) else [],
                         "used_unless_the_box_has": glibcxx,
                         "glibc_required": elf_compat.glibc_required(
                             [os.path.join(fallback, f) for f in os.listdir(fallback)]) if os.path.isdir(fallback)
                         else None},
            "made_loadable_on_older_glibc": loosened,
            "bundled_libraries": sorted(set(bundle.libraries) | ({elf_compat.SHIM_NAME} if loosened else set())),
            "from_the_targets_torch": sorted(bundle.expected - DRIVER_LIBRARIES),
            "from_the_driver": sorted(bundle.expected & DRIVER_LIBRARIES),
            "from_the_system": sorted(SYSTEM_LIBRARIES),
            "open_mpi_components_left_out": left_out,
        }
        with open(os.path.join(root, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        partial = args.output + ".partial"
        with tarfile.open(partial, "w:gz", compresslevel=9) as archive:
            archive.add(root, arcname=TOP)
        os.replace(partial, args.output)
        print(json.dumps({"archive": args.output, "bytes": os.path.getsize(args.output),
                          "bundled_libraries": len(bundle.libraries),
                          "from_the_targets_torch": manifest["from_the_targets_torch"]}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
