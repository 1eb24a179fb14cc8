"""Several SageMaker hosts on one Linux machine, for tests of multi-instance jobs without Docker
(root only). Host algo-N gets a network namespace with its own address on eth0 (10.77.0.N, all
joined by a bridge), its own host name, and its own mount namespace in which /opt/ml is its own
directory, as are /etc/hosts (naming every host), /root/.ssh (the job's key) and the handshake's
scratch directory (RINGTRAIN_SAGEMAKER_SCRATCH, standing for /tmp), as in the image. sshd
started there (by the entrypoint) serves only that host.

    hosts = EmulatedHosts(2, "/tmp/emu")
    subprocess.run(hosts.enter(2, ["hostname"]))    # algo-2
    hosts.destroy()
"""
import os
import shutil
import subprocess

PREFIX = "rt-emu"
# Each host's own scratch directory, by one path: not /tmp itself, which may hold the checkout.
SCRATCH = "/run/ringtrain-emulated-scratch"


def available():
    """Why the emulation cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("ip", "unshare", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"needs {tool}"
    if not os.path.exists("/usr/sbin/sshd"):
        return "needs /usr/sbin/sshd (openssh-server)"
    probe = subprocess.run(["ip", "netns", "add", PREFIX + "-probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "cannot make network namespaces: " + probe.stderr.strip()
    subprocess.run(["ip", "netns", "del", PREFIX + "-probe"], capture_output=True)
    return None


def _run(*command):
    subprocess.run(list(command), check=True, capture_output=True)


class EmulatedHosts:
    def __init__(self, count, work):
        self.count = count
        self.work = work
        destroy()
        os.makedirs(work, exist_ok=True)
        ssh = os.path.join(work, "ssh")
        os.makedirs(ssh, mode=0o700, exist_ok=True)
        if not os.path.exists(os.path.join(ssh, "id_ed25519")):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(ssh, "id_ed25519"))
        shutil.copy(os.path.join(ssh, "id_ed25519.pub"), os.path.join(ssh, "authorized_keys"))
        with open(os.path.join(ssh, "config"), "w") as f:
            f.write("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
        for name in os.listdir(ssh):
            os.chmod(os.path.join(ssh, name), 0o600)
        with open(os.path.join(work, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n" + "".join(f"10.77.0.{n} algo-{n}\n" for n in self.hosts()))
        for mount_point in ("/opt/ml", "/root/.ssh", "/run/sshd", SCRATCH):
            os.makedirs(mount_point, exist_ok=True)
        _run("ip", "link", "add", PREFIX + "-br", "type", "bridge")
        _run("ip", "link", "set", PREFIX + "-br", "up")
        for n in self.hosts():
            namespace, outside = f"{PREFIX}-{n}", f"{PREFIX}-v{n}"
            _run("ip", "netns", "add", namespace)
            _run("ip", "link", "add", outside, "type", "veth", "peer", "name", f"{PREFIX}-p{n}")
            _run("ip", "link", "set", outside, "master", PREFIX + "-br")
            _run("ip", "link", "set", outside, "up")
            _run("ip", "link", "set", f"{PREFIX}-p{n}", "netns", namespace)
            _run("ip", "-n", namespace, "link", "set", f"{PREFIX}-p{n}", "name", "eth0")
            _run("ip", "-n", namespace, "addr", "add", f"10.77.0.{n}/24", "dev", "eth0")
            _run("ip", "-n", namespace, "link", "set", "eth0", "up")
            _run("ip", "-n", namespace, "link", "set", "lo", "up")
            os.makedirs(self.root(n), exist_ok=True)
            os.makedirs(self.tmp(n), mode=0o1777, exist_ok=True)
            os.chmod(self.tmp(n), 0o1777)

    def hosts(self):
        return range(1, self.count + 1)

    def root(self, n):
        """Host algo-N's /opt/ml, as seen from outside."""
        return os.path.join(self.work, f"algo-{n}", "opt-ml")

    def environment(self):
        """What the entrypoints of emulated hosts need in their environment."""
        return {"RINGTRAIN_SAGEMAKER_SCRATCH": SCRATCH}

    def tmp(self, n):
        """Host algo-N's scratch directory (the handshake's /tmp), as seen from outside."""
        return os.path.join(self.work, f"algo-{n}", "tmp")

    def enter(self, n, command):
        """`command` run as host algo-N."""
        script = (f"hostname algo-{n} && mount --bind {self.work}/hosts /etc/hosts && "
                  f"mount --bind {self.work}/ssh /root/.ssh && mount --bind {self.root(n)} /opt/ml && "
                  f"mount --bind {self.tmp(n)} {SCRATCH} && " 'exec "$@"')
        return ["ip", "netns", "exec", f"{PREFIX}-{n}", "unshare", "--uts", "--mount", "--propagation",
                "private", "sh", "-c", script, "sh"] + list(command)

    def destroy(self):
        destroy()


def destroy():
    """Removes every emulated host's namespace, the bridge and the links; kills what still runs there."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
    for line in listed:
        name = line.split(" ")[0]
        if name.startswith(PREFIX + "-"):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    # A namespace's interfaces go with it, but not at once: the outside ends are taken now.
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.split("\n")
    for line in links:
        fields = line.split(": ")
        if len(fields) > 1 and fields[1].split("@")[0].startswith(PREFIX + "-"):
            subprocess.run(["ip", "link", "del", fields[1].split("@")[0]], capture_output=True)
