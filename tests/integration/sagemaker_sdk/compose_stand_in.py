"""Stands in for `docker compose -f FILE up --build --abort-on-container-exit`, the one step of the
SageMaker Python SDK's local mode that needs a Docker engine. Everything before it is the SDK's
own: the job's configuration files, the channels and the compose file that names them.

The compose file's one service (one host) runs the image's entrypoint, read from the repository's
Dockerfile: docker/entrypoint.sh (installed as /usr/local/bin/ringtrain-entrypoint by
docker/install-runtime.sh), which runs $RINGTRAIN_BIN in place of the image's ringtrain, in a private mount namespace
where /opt/ml holds exactly the volumes the compose file names, with the compose file's
environment added to this one's. Its exit status is the container's, and its output goes to
standard output and, as `docker logs` would keep it, to $RINGTRAIN_CONTAINER_LOG when that is set
(the SDK stops reading when the container exits, and may drop its last lines). Needs root
(unshare) and PyYAML (the SDK's dependency)."""
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
INSTALLED_ENTRYPOINT = "/usr/local/bin/ringtrain-entrypoint"


def image_entrypoint():
    """The Dockerfile's exec-form ENTRYPOINT, with the built executable for the image's."""
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        found = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", f.read(), re.MULTILINE)
    if len(found) != 1:
        sys.exit("compose stand-in: the Dockerfile needs exactly one exec-form ENTRYPOINT")
    entrypoint = json.loads(found[0])
    if entrypoint[0] != INSTALLED_ENTRYPOINT:
        sys.exit(f"compose stand-in: the entrypoint {entrypoint[0]} is not {INSTALLED_ENTRYPOINT}")
    return [os.path.join(ROOT, "docker", "entrypoint.sh")] + entrypoint[1:]


def volumes_of(service):
    """(host directory, container directory), parents before what they hold, as Docker mounts them."""
    pairs = []
    for volume in service.get("volumes", []):
        volume = volume[:-2] if volume.endswith(":z") else volume
        host, container = volume.split(":")
        pairs.append((os.path.abspath(host), container))
    return sorted(pairs, key=lambda pair: pair[1].count("/"))


def container_command(service):
    if "entrypoint" in service:
        entrypoint = service["entrypoint"]
        return shlex.split(entrypoint) if isinstance(entrypoint, str) else list(entrypoint)
    command = service.get("command", [])
    return image_entrypoint() + (shlex.split(command) if isinstance(command, str) else list(command))


def main(argv):
    if "-f" not in argv or "up" not in argv:
        sys.exit(f"compose stand-in: expected '-f FILE up ...', got {argv}")
    with open(argv[argv.index("-f") + 1]) as f:
        services = yaml.safe_load(f)["services"]
    if len(services) != 1:
        sys.exit(f"compose stand-in: runs one host, the compose file has {len(services)}")
    (host, service), = services.items()

    mounts = ["mount -t tmpfs ringtrain-opt-ml /opt/ml"]
    for source, target in volumes_of(service):
        if not target.startswith("/opt/ml/"):
            sys.exit(f"compose stand-in: only volumes under /opt/ml are supported, not {target}")
        os.makedirs(source, exist_ok=True)  # as Docker makes a missing volume's directory
        mounts.append(f"mkdir -p {shlex.quote(target)} && mount --bind {shlex.quote(source)} {shlex.quote(target)}")
    env = dict(os.environ)
    for item in service.get("environment", []):
        name, _, value = item.partition("=")
        env[name] = value
    # The mount point, removed again if made here; what the job sees is the tmpfs over it.
    made_mount_point = not os.path.exists("/opt/ml")
    os.makedirs("/opt/ml", exist_ok=True)
    print(f"compose stand-in: {host}: {' '.join(container_command(service))}", flush=True)
    script = " && ".join(mounts) + ' && exec "$@"'
    container = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
                                 + container_command(service), env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
    log_path = os.environ.get("RINGTRAIN_CONTAINER_LOG")
    with open(log_path or os.devnull, "ab") as log:
        for line in container.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
            log.write(line)
    status = container.wait()
    if made_mount_point:
        os.rmdir("/opt/ml")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
