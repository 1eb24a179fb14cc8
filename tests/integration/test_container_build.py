"""What can be checked of the container build without Docker: the build context holds what the
Dockerfile copies and nothing large; the torch version comes from the one place the scripts pin it,
read by the Dockerfile's own shell step; the bases are pinned by digest, plain, of one release; the
build is bounded, compiles against the wheel's NCCL and installs through the scripts that
test_container_runtime.py and test_container_env.py run here."""
import fnmatch
import json
import os
import re
import subprocess
import tempfile
import unittest

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def ignored(path, patterns):
    """Docker's .dockerignore rule: the last pattern that matches the path or a parent decides."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        if any(fnmatch.fnmatchcase("/".join(parts[:n]), pattern) for n in range(1, len(parts) + 1)):
            verdict = not negate
    return verdict


class ContainerBuildTest(unittest.TestCase):
    def setUp(self):
        self.dockerfile = read("Dockerfile")
        self.patterns = [l.strip() for l in read(".dockerignore").splitlines() if l.strip() and not l.startswith("#")]

    def test_the_context_holds_what_the_dockerfile_copies_and_not_the_build_trees(self):
        copied = re.findall(r"^COPY (?!--from)(\S+)", self.dockerfile, re.M)
        self.assertIn("scripts/lib/common.sh", copied)
        for source in copied:
            for directory, _, files in os.walk(os.path.join(ROOT, source)) if os.path.isdir(os.path.join(ROOT, source)) \
                    else [(os.path.dirname(os.path.join(ROOT, source)), None, [os.path.basename(source)])]:
                for name in files:
                    relative = os.path.relpath(os.path.join(directory, name), ROOT)
                    self.assertFalse(ignored(relative, self.patterns), f"{relative} is copied but ignored")
        for large in ("build/ringtrain", "runs/latest/model.safetensors", ".git/HEAD", "tests/integration/x.py"):
            self.assertTrue(ignored(large, self.patterns), f"{large} would be sent to Docker")

    def test_the_torch_version_is_the_scripts_and_read_by_the_dockerfiles_own_step(self):
        pinned = re.search(r"^RINGTRAIN_TORCH_VERSION=(\S+)$", read("scripts", "lib", "common.sh"), re.M).group(1)
        self.assertNotRegex(self.dockerfile, r"torch==\d", "a torch version written into the Dockerfile")
        step = re.search(r"^RUN (torch_version=\$\(sed [^)]*\))", self.dockerfile, re.M).group(1)
        # The step as the image runs it, against the file the image copies to /tmp/common.sh.
        with tempfile.TemporaryDirectory() as scratch:
            script = step.replace("/tmp/common.sh", os.path.join(ROOT, "scripts", "lib", "common.sh"))
            out = subprocess.run(["sh", "-c", f'{script} && echo "$torch_version"'], capture_output=True, text=True,
                                 cwd=scratch, check=True).stdout.strip()
        self.assertEqual(out, pinned)
        self.assertIn("torch.version.cuda", self.dockerfile, "the CUDA variant of the wheel is asserted")

    def bases(self):
        """{stage argument: image reference} of the FROM lines, which name ARGs with defaults."""
        defaults = dict(re.findall(r"^ARG (\w+)=(\S+)$", self.dockerfile, re.M))
        return {arg: defaults[arg] for arg in re.findall(r"^FROM \$\{(\w+)\}", self.dockerfile, re.M)}

    def test_the_bases_are_pinned_plain_and_of_one_release(self):
        bases = self.bases()
        self.assertEqual(sorted(bases), ["BUILD_IMAGE", "RUNTIME_IMAGE"])
        for reference in bases.values():
            self.assertRegex(reference, r"^nvidia/cuda:13\.\d+\.\d+-\w+-ubuntu24\.04@sha256:[0-9a-f]{64}$")
        self.assertIn("-devel-", bases["BUILD_IMAGE"])  # nvcc
        # The plain base: CUDA's runtime and compat driver; cuDNN, cuBLAS and NCCL come from the wheel.
        self.assertIn("-base-", bases["RUNTIME_IMAGE"])
        self.assertEqual(bases["BUILD_IMAGE"].split(":")[1].split("-")[0], bases["RUNTIME_IMAGE"].split(":")[1].split("-")[0])
        self.assertIn("libopenmpi3t64", self.dockerfile)  # Ubuntu 24.04's name, hence the fixed release

    def test_the_build_is_bounded_and_documented_for_amd64(self):
        self.assertRegex(self.dockerfile, r'cmake --build build --parallel "\$\{BUILD_JOBS\}"')
        self.assertRegex(self.dockerfile, r"(?m)^ARG BUILD_JOBS=\d+$")
        for document in (self.dockerfile, read("sagemaker", "README.md")):
            for command in re.findall(r"docker build [^\n]*", document):
                self.assertIn("--platform linux/amd64", command)

    def test_the_image_builds_against_the_wheels_nccl_and_installs_by_the_tested_script(self):
        self.assertRegex(self.dockerfile, r'NCCL_HOME="\$site/nvidia/nccl" cmake ')
        self.assertIn('sh docker/install-runtime.sh "$site" build /out', self.dockerfile)
        self.assertIn("COPY --from=build /out/usr/local/ /usr/local/", self.dockerfile)
        self.assertIn("COPY --from=build /out/etc/ld.so.conf.d/ringtrain.conf /etc/ld.so.conf.d/ringtrain.conf",
                      self.dockerfile)
        # The scripts come after the compile step, so that editing them does not recompile.
        self.assertLess(self.dockerfile.index("--target ringtrain smhostname"), self.dockerfile.index("COPY docker/"))
        # ringtrain must start with no library path at all, after the loader's cache is built (which
        # holds none of its libraries), and with the image's environment: checked while the image is built.
        check = re.search(r"^RUN ldconfig && env -u LD_LIBRARY_PATH /usr/local/bin/ringtrain info.*?(?=^\S)",
                          self.dockerfile, re.M | re.S)
        self.assertIsNotNone(check)
        self.assertLess(self.dockerfile.index("ENV PATH="), check.start())
        self.assertIn("ringtrain_check_ofi_plugin", check.group(0))
        entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", self.dockerfile, re.M).group(1))
        self.assertEqual(entrypoint, ["/usr/local/bin/ringtrain-entrypoint"])
        self.assertIn('"$dest/usr/local/bin/ringtrain-entrypoint"', read("docker", "install-runtime.sh"))
        self.assertNotRegex(self.dockerfile, r"LD_LIBRARY_PATH=[^\n]*/usr/local/lib/ringtrain")

    def test_efa_is_installed_by_the_checked_script_with_what_it_needs(self):
        self.assertIn("COPY docker/install-efa.sh /tmp/install-efa.sh", self.dockerfile)
        self.assertIn('sh /tmp/install-efa.sh "${EFA_INSTALLER_VERSION}"', self.dockerfile)
        runtime_packages = re.search(r"FROM \$\{RUNTIME_IMAGE\}.*?apt-get install[^\n]*\n([^\n]*\n[^\n]*)",
                                     self.dockerfile, re.S).group(1)
        for package in ("curl", "gnupg", "ca-certificates"):
            self.assertIn(package, runtime_packages)

if __name__ == "__main__":
    unittest.main()
