"""The container's start-up decisions, run as the shell functions they are (docker/entrypoint.sh,
docker/install-efa.sh) against directories laid out like hosts: CUDA forward compatibility when the
driver is of an older branch than the image's compat driver and the GPUs accept it; EFA devices and
an AWS OFI NCCL plugin that can load (a real shared library, with and without what it needs), which
the build checks too; the EFA installer's flags and its signature check, with real GnuPG keys."""
import os
import shutil
import subprocess
import tempfile
import textwrap
import unittest

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKER = os.path.join(ROOT, "docker")
BIN = os.environ.get("RINGTRAIN_BIN", os.path.join(ROOT, "build", "ringtrain"))
PROPRIETARY = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  {}  Tue Mar  5 22:23:56 UTC 2024\n"
ZLIB = "/lib/x86_64-linux-gnu/libz.so.1"
OPEN = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {}  Release Build  (dvs-builder@U16)\n"


def write(path, text="", mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def shell(script, functions, **env):
    """Runs `script` after sourcing the functions of docker/`functions`; (status, output, environment)."""
    flag = "RINGTRAIN_ENTRYPOINT_FUNCTIONS" if functions == "entrypoint.sh" else "RINGTRAIN_EFA_FUNCTIONS"
    full = f'{flag}=1 . "{os.path.join(DOCKER, functions)}"\n{script}\nstatus=$?\n' \
           'echo "--- LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"\n' \
           'echo "--- RINGTRAIN_EFA_PLUGIN=${RINGTRAIN_EFA_PLUGIN:-}"\nexit $status\n'
    run = subprocess.run(["sh", "-c", full], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], **env})
    lines = run.stdout.splitlines()
    settings = dict(line[4:].split("=", 1) for line in lines if line.startswith("--- "))
    return run.returncode, "\n".join(line for line in lines if not line.startswith("--- ")) + run.stderr, settings


class HostFixture:
    def __init__(self, test):
        self.root = tempfile.mkdtemp(prefix="ringtrain-host-")
        test.addCleanup(shutil.rmtree, self.root, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def driver(self, version, template=PROPRIETARY):
        write(self.path("proc", "driver", "nvidia", "version"), template.format(version))

    def compat(self, version):
        directory = self.path("usr", "local", "cuda", "compat")
        write(os.path.join(directory, f"libcuda.so.{version}"))
        os.symlink(f"libcuda.so.{version}", os.path.join(directory, "libcuda.so.1"))
        return directory

    def ringtrain(self, works_with_compat):
        """A ringtrain whose `info --json` answers as the GPUs of this host would: usable through the
        forward-compatibility driver, or refusing it (error 804)."""
        compat = self.path("usr", "local", "cuda", "compat")
        usable = '{"cuda_forward_compatibility": true, "gpus": 8}' if works_with_compat else \
            '{"gpus": 0, "gpu_problem": "CUDA cannot use the GPUs: forward compatibility was attempted on non supported HW"}'
        script = self.path("bin", "ringtrain")
        write(script, textwrap.dedent(f"""\
            #!/bin/sh
            case "$LD_LIBRARY_PATH" in {compat}*) echo '{usable}' ;;
              *) echo '{{"gpus": 0, "gpu_problem": "the NVIDIA driver supports CUDA up to 12.4"}}' ;; esac
            """), 0o755)
        return script

    def efa_devices(self, *names):
        for name in names:
            os.makedirs(self.path("sys", "bus", "pci", "drivers", "efa"), exist_ok=True)
            device = self.path("sys", "class", "infiniband", name, "device")
            os.makedirs(device)
            os.symlink("../../../../bus/pci/drivers/efa", os.path.join(device, "driver"))

    def plugin(self, relative="opt/amazon/ofi-nccl/lib/libnccl-net-ofi.so", needs=None):
        """A shared library where the EFA installer puts the plugin (zlib's, standing in for it);
        `needs` adds a library it links against."""
        os.makedirs(os.path.dirname(self.path(relative)), exist_ok=True)
        shutil.copy(ZLIB, self.path(relative))
        if needs:
            subprocess.run(["patchelf", "--add-needed", needs, self.path(relative)], check=True)
        return self.path(relative)

    def runtime_libraries(self, with_unversioned_cudart=True):
        """What docker/install-runtime.sh lays out for libraries opened by name."""
        write(self.path("etc", "ld.so.conf.d", "ringtrain.conf"), "# ringtrain\n/usr/local/lib/ringtrain/by-name\n")
        write(self.path("usr", "local", "lib", "ringtrain", "nvidia", "cu13", "lib", "libcudart.so.13"))
        os.makedirs(self.path("usr", "local", "lib", "ringtrain", "by-name"))
        if with_unversioned_cudart:
            os.symlink("../nvidia/cu13/lib/libcudart.so.13", self.path("usr", "local", "lib", "ringtrain", "by-name",
                                                                     "libcudart.so"))


class CudaCompatibilityTest(unittest.TestCase):
    def compat(self, host, ringtrain=None):
        return shell("ringtrain_cuda_compat", "entrypoint.sh", RINGTRAIN_ROOT=host.root,
                     RINGTRAIN_BIN=ringtrain or BIN, LD_LIBRARY_PATH="/usr/local/nvidia/lib64")

    def test_an_older_driver_runs_on_the_compat_driver_when_the_gpus_accept_it(self):
        host = HostFixture(self)
        host.driver("550.54.15")
        compat = host.compat("580.95.05")
        status, output, settings = self.compat(host, host.ringtrain(works_with_compat=True))
        self.assertEqual(status, 0, output)
        self.assertEqual(settings["LD_LIBRARY_PATH"], compat + ":/usr/local/nvidia/lib64")
        self.assertIn("NVIDIA driver 550.54.15 is older than this image's CUDA needs: using CUDA forward "
                      f"compatibility (driver library 580.95.05 from {compat})", output)

    def test_gpus_that_refuse_compat_keep_the_host_driver_and_say_why(self):
        host = HostFixture(self)
        host.driver("535.183.01", OPEN)
        host.compat("580.95.05")
        status, output, settings = self.compat(host, host.ringtrain(works_with_compat=False))
        self.assertEqual(status, 0, output)
        self.assertEqual(settings["LD_LIBRARY_PATH"], "/usr/local/nvidia/lib64")
        self.assertIn("WARNING: NVIDIA driver 535.183.01 is older", output)
        self.assertIn("forward compatibility was attempted on non supported HW", output)

    def test_the_real_ringtrain_on_a_machine_without_usable_gpus_keeps_the_host_driver(self):
        host = HostFixture(self)
        host.driver("550.54.15")
        host.compat("580.95.05")
        status, output, settings = self.compat(host)  # this machine's ringtrain: no GPU answers
        self.assertEqual(status, 0, output)
        self.assertEqual(settings["LD_LIBRARY_PATH"], "/usr/local/nvidia/lib64")
        self.assertIn("WARNING", output)

    def test_a_driver_of_the_compat_ones_branch_or_newer_needs_nothing(self):
        for driver in ("580.65.06", "580.95.05", "590.44.01"):
            host = HostFixture(self)
            host.driver(driver)
            host.compat("580.95.05")
            status, output, settings = self.compat(host, host.ringtrain(works_with_compat=True))
            self.assertEqual((status, settings["LD_LIBRARY_PATH"]), (0, "/usr/local/nvidia/lib64"), output)
            self.assertIn(f"NVIDIA driver {driver} (CUDA forward compatibility not needed)", output)

    def test_an_image_without_the_compat_driver_says_so(self):
        host = HostFixture(self)
        host.driver("550.54.15")
        status, output, settings = self.compat(host, host.ringtrain(works_with_compat=True))
        self.assertEqual((status, settings["LD_LIBRARY_PATH"]), (0, "/usr/local/nvidia/lib64"), output)
        self.assertIn("NVIDIA driver 550.54.15 (this image has no CUDA forward-compatibility driver)", output)

    def test_no_driver_is_a_cpu_host_and_says_nothing(self):
        host = HostFixture(self)
        host.compat("580.95.05")
        status, output, settings = self.compat(host, host.ringtrain(works_with_compat=True))
        self.assertEqual((status, output.strip(), settings["LD_LIBRARY_PATH"]), (0, "", "/usr/local/nvidia/lib64"))


@unittest.skipUnless(shutil.which("patchelf") and os.path.exists(ZLIB), "needs patchelf and zlib")
class EfaTest(unittest.TestCase):
    def efa(self, host, **env):
        return shell("ringtrain_efa", "entrypoint.sh", RINGTRAIN_ROOT=host.root, **env)

    def test_without_efa_devices_it_says_nothing_and_names_no_plugin(self):
        host = HostFixture(self)
        host.runtime_libraries()
        host.plugin()
        status, output, settings = self.efa(host)
        self.assertEqual((status, output.strip(), settings["RINGTRAIN_EFA_PLUGIN"]), (0, "", ""))

    def test_efa_with_a_plugin_that_loads_names_it(self):
        for relative in ("opt/amazon/ofi-nccl/lib/libnccl-net-ofi.so", "opt/amazon/aws-ofi-nccl/lib/libnccl-net-aws-ofi.so",
                         "opt/amazon/ofi-nccl/lib/x86_64-linux-gnu/libnccl-net-ofi.so"):
            host = HostFixture(self)
            host.runtime_libraries()
            host.efa_devices("rdmap16s27", "rdmap32s27")
            plugin = host.plugin(relative)
            status, output, settings = self.efa(host)
            self.assertEqual(status, 0)
            self.assertIn(f"ringtrain: EFA: 2 devices (rdmap16s27 rdmap32s27), AWS OFI NCCL plugin {plugin}", output)
            self.assertEqual(settings["RINGTRAIN_EFA_PLUGIN"], plugin)

    def test_efa_without_a_working_plugin_is_a_warning_and_names_none(self):
        cases = [({}, "this image has no AWS OFI NCCL plugin"),
                 ({"plugin": True, "needs": "libringtrain-absent.so.1"}, "it needs libringtrain-absent.so.1 which this image lacks"),
                 ({"plugin": True, "cudart": False}, "it opens libcudart.so, which no directory in")]
        for case, reason in cases:
            host = HostFixture(self)
            host.runtime_libraries(with_unversioned_cudart=case.get("cudart", True))
            host.efa_devices("rdmap16s27")
            if case.get("plugin"):
                host.plugin(needs=case.get("needs"))
            status, output, settings = self.efa(host)
            self.assertEqual(status, 0)
            self.assertIn("WARNING: this host has 1 EFA devices (rdmap16s27)", output)
            self.assertIn(reason, output)
            self.assertIn("NCCL will use TCP sockets between hosts", output)
            self.assertEqual(settings["RINGTRAIN_EFA_PLUGIN"], "")

    def test_other_rdma_devices_are_not_efa(self):
        host = HostFixture(self)
        host.runtime_libraries()
        host.plugin()
        device = host.path("sys", "class", "infiniband", "mlx5_0", "device")
        os.makedirs(device)
        os.makedirs(host.path("sys", "bus", "pci", "drivers", "mlx5_core"))
        os.symlink("../../../../bus/pci/drivers/mlx5_core", os.path.join(device, "driver"))
        _, output, settings = self.efa(host)
        self.assertEqual((output.strip(), settings["RINGTRAIN_EFA_PLUGIN"]), ("", ""))

    def test_the_image_build_fails_without_a_plugin_that_loads(self):
        """The Dockerfile's check when EFA was asked for: ringtrain_check_ofi_plugin."""
        host = HostFixture(self)
        host.runtime_libraries()
        status, output, _ = shell("ringtrain_check_ofi_plugin", "entrypoint.sh", RINGTRAIN_ROOT=host.root)
        self.assertEqual(status, 1)
        self.assertIn("put in no AWS OFI NCCL plugin", output)
        broken = host.plugin(needs="libringtrain-absent.so.1")
        status, output, _ = shell("ringtrain_check_ofi_plugin", "entrypoint.sh", RINGTRAIN_ROOT=host.root)
        self.assertEqual(status, 1)
        self.assertIn(f"the AWS OFI NCCL plugin {broken} cannot work: it needs libringtrain-absent.so.1", output)
        os.remove(broken)
        plugin = host.plugin()
        status, output, _ = shell("ringtrain_check_ofi_plugin", "entrypoint.sh", RINGTRAIN_ROOT=host.root)
        self.assertEqual((status, output.strip()), (0, f"ringtrain: AWS OFI NCCL plugin {plugin}"))


class EntrypointTest(unittest.TestCase):
    def test_it_becomes_ringtrain_sagemaker_with_the_arguments(self):
        run = subprocess.run([os.path.join(DOCKER, "entrypoint.sh"), "info", "--json"], capture_output=True, text=True,
                             env={"PATH": os.environ["PATH"], "RINGTRAIN_BIN": BIN, "RINGTRAIN_ROOT": "/nonexistent"})
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn('"ringtrain":', run.stdout)  # `ringtrain sagemaker info --json` outside a job is `info --json`


@unittest.skipUnless(shutil.which("gpg"), "needs GnuPG (scripts/setup.sh installs it)")
class EfaInstallerTest(unittest.TestCase):
    def test_the_ngc_switches_are_passed_where_the_installer_offers_them(self):
        helps = {"": [],  # no help text: the flags every installer takes
                 "  --disable-ngc   install as for any image\n": ["--disable-ngc"],
                 "--disable-ngc\n--disable-build-ngc\n--enable-ngc\n": ["--disable-ngc", "--disable-build-ngc"],
                 "--disable-ngc-something\n": []}
        for help_text, switches in helps.items():
            status, output, _ = shell('efa_installer_flags "$HELP"', "install-efa.sh", HELP=help_text)
            self.assertEqual(status, 0, output)
            self.assertEqual(output.split(), "-y --skip-kmod --skip-limit-conf --no-verify".split() + switches, help_text)

    def test_only_a_signature_by_the_documented_key_passes(self):
        work = tempfile.mkdtemp(prefix="ringtrain-efa-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        home = os.path.join(work, "gnupg")
        os.makedirs(home, mode=0o700)
        gpg = ["gpg", "--homedir", home, "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""]
        subprocess.run(gpg + ["--quick-generate-key", "Test Signer <test@example.com>", "ed25519", "sign", "never"], check=True,
                       capture_output=True)
        fingerprint = [line.split(":")[9] for line in subprocess.run(
            gpg + ["--with-colons", "--fingerprint"], capture_output=True, text=True, check=True).stdout.splitlines()
            if line.startswith("fpr:")][0]
        tarball, signature, key = (os.path.join(work, name) for name in ("efa.tar.gz", "efa.tar.gz.sig", "efa.key"))
        write(tarball, "the installer")
        subprocess.run(gpg + ["--output", signature, "--detach-sign", tarball], check=True, capture_output=True)
        with open(key, "wb") as f:
            f.write(subprocess.run(gpg + ["--armor", "--export"], capture_output=True, check=True).stdout)
        check = f'efa_verify "{tarball}" "{signature}" "{key}"'

        status, output, _ = shell(check, "install-efa.sh", EFA_KEY_FINGERPRINT=fingerprint)
        self.assertEqual(status, 0, output)
        self.assertIn(f"good signature by AWS's EFA key {fingerprint}", output)
        # The same signature, but the documented key is AWS's, not this one: refused.
        status, output, _ = shell(check, "install-efa.sh")
        self.assertNotEqual(status, 0)
        self.assertIn(f"is signed by {fingerprint}, not by AWS's EFA key", output)
        # A key file holding the documented key and another: only a signature by the documented one passes.
        other = os.path.join(work, "other")
        os.makedirs(other, mode=0o700)
        other_gpg = ["gpg", "--homedir", other] + gpg[3:]
        subprocess.run(other_gpg + ["--quick-generate-key", "Intruder <x@example.com>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        forged = os.path.join(work, "forged.sig")
        subprocess.run(other_gpg + ["--output", forged, "--detach-sign", tarball], check=True, capture_output=True)
        with open(key, "ab") as f:
            f.write(subprocess.run(other_gpg + ["--armor", "--export"], capture_output=True, check=True).stdout)
        status, output, _ = shell(f'efa_verify "{tarball}" "{forged}" "{key}"', "install-efa.sh",
                                  EFA_KEY_FINGERPRINT=fingerprint)
        self.assertNotEqual(status, 0)
        self.assertIn("not by AWS's EFA key", output)
        status, output, _ = shell(check, "install-efa.sh", EFA_KEY_FINGERPRINT=fingerprint)
        self.assertEqual(status, 0, output)
        # A signature by a signing subkey of the documented key: the primary key is what counts.
        subprocess.run(gpg + ["--quick-add-key", fingerprint, "ed25519", "sign", "never"], check=True, capture_output=True)
        by_subkey = os.path.join(work, "subkey.sig")
        subkeys = [line.split(":")[4] for line in subprocess.run(
            gpg + ["--with-colons", "--list-keys", fingerprint], capture_output=True, text=True, check=True).stdout.splitlines()
            if line.startswith("sub:")]
        subprocess.run(gpg + ["--local-user", subkeys[-1] + "!", "--output", by_subkey, "--detach-sign", tarball], check=True,
                       capture_output=True)
        with open(key, "wb") as f:
            f.write(subprocess.run(gpg + ["--armor", "--export"], capture_output=True, check=True).stdout)
        status, output, _ = shell(f'efa_verify "{tarball}" "{by_subkey}" "{key}"', "install-efa.sh",
                                  EFA_KEY_FINGERPRINT=fingerprint)
        self.assertEqual(status, 0, output)
        # The documented key, but the tarball changed after signing.
        write(tarball, "the installer, changed")
        status, output, _ = shell(check, "install-efa.sh", EFA_KEY_FINGERPRINT=fingerprint)
        self.assertNotEqual(status, 0)
        self.assertIn("is not a good signature", output)

if __name__ == "__main__":
    unittest.main()
