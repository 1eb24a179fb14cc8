"""Runs a command where some files of the machine cannot be seen: in a private mount namespace, each
directory that holds one is covered by an overlay in which they are deleted. Nothing changes outside
the command. Needs root (or a user namespace) and overlayfs; `unavailable()` says why not."""
import os
import shlex
import shutil
import subprocess
import tempfile


def unavailable():
    """None where hiding works here, else the reason."""
    if not shutil.which("unshare"):
        return "needs unshare"
    with tempfile.TemporaryDirectory(prefix="ringtrain-overlay-probe-") as scratch:
        lower = os.path.join(scratch, "lower")
        os.mkdir(lower)
        open(os.path.join(lower, "hidden"), "w").close()
        argv = command_without([os.path.join(lower, "hidden")], ["test", "!", "-e", os.path.join(lower, "hidden")],
                               scratch)
        probe = subprocess.run(argv, capture_output=True, text=True)
        if probe.returncode != 0:
            return f"cannot hide files in a private mount namespace here: {probe.stderr.strip()}"
    return None


def command_without(hidden, argv, scratch):
    """The command line that runs `argv` with the paths in `hidden` (files or directories) deleted
    from view. `scratch` is an empty directory for the overlays' own files, outside the hidden ones."""
    # The link itself, not what it points to, is hidden; its directory is resolved.
    hidden = [os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p)) for p in hidden]
    directories = sorted({os.path.dirname(p) for p in hidden})
    lines = ["set -e"]
    for i, directory in enumerate(directories):
        upper, work = os.path.join(scratch, f"upper{i}"), os.path.join(scratch, f"work{i}")
        lines.append(f"mkdir -p {shlex.quote(upper)} {shlex.quote(work)}")
        lines.append(f"mount -t overlay overlay -o lowerdir={directory},upperdir={upper},workdir={work} "
                     f"{shlex.quote(directory)}")
    for path in hidden:
        lines.append(f"rm -rf {shlex.quote(path)}")
    lines.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "bash", "-c", "\n".join(lines), "hide"] + list(argv)
