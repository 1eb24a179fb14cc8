"""The container's start-up decisions, run as the shell functions they are (docker/entrypoint.sh,
docker/install-efa.sh) against directories laid out like hosts: CUDA forward compatibility when the
driver is older than the image's CUDA and the GPUs accept it, which network NCCL will use between
hosts and the settings that keep it from falling back to sockets unseen, and the EFA installer's
signature check, with real GnuPG keys."""
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
OPEN = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {}  Release Build  (dvs-builder@U16)\n"


def write(path, text="", mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def shell(script, functions, **env):
    """Runs `script` after sourcing the functions of docker/`functions`; (status, output, environment)."""
    flag = "RINGTRAIN_ENTRYPOINT_FUNCTIONS" if functions == "entrypoint.sh" else "RINGTRAIN_EFA_FUNCTIONS"
    full = f'{flag}=1 . "{os.path.join(DOCKER, functions)}"\n{script}\necho "--- LD_LIBRARY_PATH=${{LD_LIBRARY_PATH:-}}"\n' \
           'echo "--- NCCL_NET_PLUGIN=${NCCL_NET_PLUGIN:-}"\necho "--- NCCL_NET=${NCCL_NET:-}"\n'
    run = subprocess.run(["sh", "-c", full], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "RINGTRAIN_DOCKER_DIR": DOCKER, **env})
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
        usable = '{"gpus": 8}' if works_with_compat else \
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

    def plugin(self, relative="opt/amazon/ofi-nccl/lib/libnccl-net-ofi.so"):
        write(self.path(relative))
        return self.path(relative)

    def runtime_libraries(self, with_unversioned_cudart=True):
        directory = "/usr/local/lib/ringtrain/nvidia/cu13/lib"
        write(self.path("etc", "ld.so.conf.d", "ringtrain.conf"), f"# ringtrain\n{directory}\n")
        write(self.root + directory + "/libcudart.so.13")
        if with_unversioned_cudart:
            os.symlink("libcudart.so.13", self.root + directory + "/libcudart.so")


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

    def test_a_driver_as_new_as_the_compat_one_needs_nothing(self):
        for driver in ("580.95.05", "590.44.01"):
            host = HostFixture(self)
            host.driver(driver)
            host.compat("580.95.05")
            status, output, settings = self.compat(host, host.ringtrain(works_with_compat=True))
            self.assertEqual((status, settings["LD_LIBRARY_PATH"]), (0, "/usr/local/nvidia/lib64"), output)
            self.assertIn(f"NVIDIA driver {driver} (CUDA forward compatibility not needed)", output)

    def test_no_driver_is_a_cpu_host_and_says_nothing(self):
        host = HostFixture(self)
        host.compat("580.95.05")
        status, output, settings = self.compat(host, host.ringtrain(works_with_compat=True))
        self.assertEqual((status, output.strip(), settings["LD_LIBRARY_PATH"]), (0, "", "/usr/local/nvidia/lib64"))


class NcclNetworkTest(unittest.TestCase):
    def network(self, host, **env):
        return shell("ringtrain_nccl_network", "entrypoint.sh", RINGTRAIN_ROOT=host.root, **env)

    def test_without_efa_it_is_sockets(self):
        host = HostFixture(self)
        host.runtime_libraries()
        status, output, settings = self.network(host)
        self.assertEqual(status, 0)
        self.assertIn("NCCL network between hosts: TCP sockets (no EFA device)", output)
        self.assertEqual((settings["NCCL_NET"], settings["NCCL_NET_PLUGIN"]), ("", ""))

    def test_efa_with_the_plugin_is_used_and_nccl_may_not_fall_back(self):
        for relative in ("opt/amazon/ofi-nccl/lib/libnccl-net-ofi.so", "opt/amazon/aws-ofi-nccl/lib/libnccl-net-aws-ofi.so"):
            host = HostFixture(self)
            host.runtime_libraries()
            host.efa_devices("rdmap16s27", "rdmap32s27")
            plugin = host.plugin(relative)
            status, output, settings = self.network(host)
            self.assertEqual(status, 0)
            self.assertIn(f"NCCL network between hosts: EFA (2 devices: rdmap16s27 rdmap32s27) through {plugin}", output)
            self.assertEqual((settings["NCCL_NET"], settings["NCCL_NET_PLUGIN"]), ("AWS Libfabric", plugin))

    def test_the_jobs_own_choice_of_network_stands(self):
        host = HostFixture(self)
        host.runtime_libraries()
        host.efa_devices("rdmap16s27")
        host.plugin()
        _, output, settings = self.network(host, NCCL_NET="Socket")
        self.assertEqual(settings["NCCL_NET"], "Socket")
        self.assertIn("(NCCL_NET=Socket)", output)

    def test_efa_without_the_plugin_or_libcudart_so_is_a_warning(self):
        host = HostFixture(self)
        host.runtime_libraries()
        host.efa_devices("rdmap16s27")
        _, output, settings = self.network(host)
        self.assertIn("WARNING: NCCL network between hosts: TCP sockets, although this host has 1 EFA devices", output)
        self.assertIn("no AWS OFI NCCL plugin", output)
        self.assertEqual(settings["NCCL_NET"], "")

        host = HostFixture(self)
        host.runtime_libraries(with_unversioned_cudart=False)
        host.efa_devices("rdmap16s27")
        plugin = host.plugin()
        _, output, settings = self.network(host)
        self.assertIn(f"the plugin {plugin} cannot open libcudart.so", output)
        self.assertEqual(settings["NCCL_NET"], "")

    def test_other_rdma_devices_are_not_efa(self):
        host = HostFixture(self)
        host.runtime_libraries()
        device = host.path("sys", "class", "infiniband", "mlx5_0", "device")
        os.makedirs(device)
        os.makedirs(host.path("sys", "bus", "pci", "drivers", "mlx5_core"))
        os.symlink("../../../../bus/pci/drivers/mlx5_core", os.path.join(device, "driver"))
        _, output, _ = self.network(host)
        self.assertIn("TCP sockets (no EFA device)", output)


class EntrypointTest(unittest.TestCase):
    def test_it_becomes_ringtrain_sagemaker_with_the_arguments(self):
        run = subprocess.run([os.path.join(DOCKER, "entrypoint.sh"), "info", "--json"], capture_output=True, text=True,
                             env={"PATH": os.environ["PATH"], "RINGTRAIN_BIN": BIN, "RINGTRAIN_ROOT": "/nonexistent"})
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn('"ringtrain":', run.stdout)  # `ringtrain sagemaker info --json` outside a job is `info --json`


@unittest.skipUnless(shutil.which("gpg"), "needs GnuPG (scripts/setup.sh installs it)")
class EfaInstallerTest(unittest.TestCase):
    def test_the_flags_keep_the_nccl_plugin_from_1_48_on(self):
        for version, ngc in (("1.47.0", False), ("1.48.0", True), ("1.50.1", True), ("1.9.0", False)):
            status, output, _ = shell(f"efa_installer_flags {version}", "install-efa.sh")
            self.assertEqual(status, 0, output)
            self.assertTrue(output.startswith("-y --skip-kmod --skip-limit-conf --no-verify"), output)
            self.assertEqual("--disable-ngc" in output, ngc, version)

    def test_the_build_looks_for_the_plugin_where_the_entrypoint_does(self):
        host = HostFixture(self)
        status, _, _ = shell("RINGTRAIN_ROOT=$HOST ringtrain_ofi_plugin", "install-efa.sh", HOST=host.root)
        self.assertNotEqual(status, 0)
        plugin = host.plugin("opt/amazon/ofi-nccl/lib64/libnccl-net-ofi.so")
        status, output, _ = shell("RINGTRAIN_ROOT=$HOST ringtrain_ofi_plugin", "install-efa.sh", HOST=host.root)
        self.assertEqual((status, output.strip()), (0, plugin))

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
        # The same signature by a key that is not AWS's: refused, naming the key.
        status, output, _ = shell(check, "install-efa.sh")
        self.assertNotEqual(status, 0)
        self.assertIn("is not AWS's EFA key", output)
        # AWS's key, but the tarball changed after signing.
        write(tarball, "the installer, changed")
        status, output, _ = shell(check, "install-efa.sh", EFA_KEY_FINGERPRINT=fingerprint)
        self.assertNotEqual(status, 0)
        self.assertIn("does not match", output)


if __name__ == "__main__":
    unittest.main()
