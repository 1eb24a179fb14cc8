"""Liveness benchmark: how fast, and how surely, a lost rank ends the job with default settings
(--heartbeat-timeout 10 s, --comm-timeout 300 s). Four ranks train; at a random point one rank is
SIGSTOP'd (frozen), or SIGKILL'd, or both ranks of one emulated host (RINGTRAIN_HOST) are
SIGSTOP'd. Per case: how often the report named exactly the lost ranks, and the time from the
signal until every rank was gone, against the heartbeat timeout plus 5 s. Then the other side: a
long run of 6 ranks on this machine's cores with CPU hogs beside them must finish without an
alarm. And what the always-on flight recorder costs: paired runs of the overhead-bound MLP with it
and without (RINGTRAIN_FLIGHT_RECORDER=off). Writes the "Liveness" section of docs/BENCHMARKS.md. Run through scripts/bench-liveness.sh."""
import argparse
import datetime
import json
import os
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks_doc import git_revision, replace_section

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from ringtrain_testing import rank_pids  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- liveness:begin -->", "<!-- liveness:end -->"
HEARTBEAT_TIMEOUT = 10
BOUND = HEARTBEAT_TIMEOUT + 5
ARGS = ["--train", "synthetic:400000:32:4", "--val", "synthetic:200:32:4", "--hidden", "64", "--batch-size",
        "16", "--epochs", "50", "--log-every", "50", "--checkpoint-every", "500", "--threads", "1",
        "--progress", "off"]
LOST_LINE = re.compile(r"^  rank (\d+) \(host (\S+), pid (\d+)\) ")
LAUNCHER_LINE = re.compile(r"process rank (\d+) with PID \d+ on node \S+ exited on signal 9")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def launch(args, out, ranks, hosts=None, extra=()):
    command = [args.mpirun, "--oversubscribe", "--bind-to", "none", "-np", str(ranks)]
    if hosts:
        command += ["sh", "-c", f'RINGTRAIN_HOST=host$((OMPI_COMM_WORLD_RANK / {hosts})) exec "$0" "$@"']
    command += [args.ringtrain, "train", "--output-dir", out] + ARGS + list(extra)
    return command, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def trial(args, work, case, number):
    out = os.path.join(work, f"{case}-{number}")
    hosts = 2 if case == "host" else None
    command, job = launch(args, out, 4, hosts)
    metrics = os.path.join(out, "metrics.jsonl")
    deadline = time.monotonic() + 120
    while not (os.path.exists(metrics) and os.path.getsize(metrics) > 0) and job.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = rank_pids(out, program=f"{args.ringtrain} train")
    if job.poll() is not None or len(pids) != 4:
        job.kill()
        raise SystemExit(f"bench-liveness: {shlex.join(command)} did not start:\n{job.communicate()[1]}")
    time.sleep(random.uniform(1.2, 5.0))
    victims = {"stop": [random.randrange(4)], "kill": [random.randrange(4)],
               "host": random.choice([[0, 1], [2, 3]])}[case]
    started = time.monotonic()
    for victim in victims:
        os.kill(pids[victim], signal.SIGKILL if case == "kill" else signal.SIGSTOP)
    _, stderr = job.communicate(timeout=300)
    while any(alive(pid) for pid in pids) and time.monotonic() - started < 120:
        time.sleep(0.02)
    gone = time.monotonic() - started
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    named = sorted(int(m.group(1)) for m in map(LOST_LINE.match, stderr.splitlines()) if m)
    launcher = sorted(int(m.group(1)) for m in LAUNCHER_LINE.finditer(stderr))
    return {"case": case, "victims": victims, "seconds": gone, "exit": job.returncode,
            "named": named == victims or (case == "kill" and launcher == victims),
            "by": "heartbeats" if named == victims else "launcher" if launcher == victims else "nobody",
            "stderr": stderr}


def soak(args, work):
    """6 ranks on this machine's cores with a CPU hog per core beside them, for args.soak_minutes, then
    stopped by SIGTERM to rank 0 (a checkpoint, and exit status 0)."""
    out = os.path.join(work, "soak")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in os.sched_getaffinity(0)]
    started = time.monotonic()
    try:
        command, job = launch(args, out, 6, extra=["--epochs", "1000"])
        while job.poll() is None and time.monotonic() - started < args.soak_minutes * 60:
            time.sleep(1)
        pids = rank_pids(out, program=f"{args.ringtrain} train")
        if job.poll() is None and pids:
            os.kill(pids[0], signal.SIGTERM)
        _, stderr = job.communicate(timeout=600)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return {"command": shlex.join(command), "exit": job.returncode, "minutes": (time.monotonic() - started) / 60,
            "alarm": "ranks lost" in stderr, "stderr": stderr[-2000:]}


# The overhead-bound MLP of the throughput benchmark (64-128-10, batch 32): the most steps per
# second, so the most recorded calls and phases per second of work.
OVERHEAD_ARGS = ["--train", "synthetic:400000:64:10", "--val", "none", "--hidden", "128", "--batch-size", "32",
                 "--max-steps", "3000", "--log-every", "500", "--threads", "1", "--progress", "off"]


def overhead(args, work):
    """Paired runs of 2 ranks with the flight recorder on and off (RINGTRAIN_FLIGHT_RECORDER=off), in
    alternating order: the median step time of each, and their ratio."""
    seconds = {"on": [], "off": []}
    for pair in range(args.overhead_pairs):
        for setting in (("on", "off") if pair % 2 == 0 else ("off", "on")):
            out = os.path.join(work, f"overhead-{pair}-{setting}")
            command = [args.mpirun, "--oversubscribe", "--bind-to", "none", "-np", "2", args.ringtrain, "train",
                       "--output-dir", out] + OVERHEAD_ARGS
            env = dict(os.environ, RINGTRAIN_FLIGHT_RECORDER=setting)
            result = subprocess.run(command, capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise SystemExit(f"bench-liveness: {shlex.join(command)} failed:\n{result.stderr}")
            with open(os.path.join(out, "summary.json")) as f:
                summary = json.load(f)
            seconds[setting].append(1000 * summary["global_batch"] / summary["samples_per_sec"])
    on, off = statistics.median(seconds["on"]), statistics.median(seconds["off"])
    return {"on_ms": on, "off_ms": off, "ratio": on / off, "pairs": args.overhead_pairs,
            "command": "RINGTRAIN_FLIGHT_RECORDER=on|off " + shlex.join(
                [args.mpirun, "--oversubscribe", "--bind-to", "none", "-np", "2", args.ringtrain, "train"] +
                OVERHEAD_ARGS)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ringtrain", default=os.path.join(ROOT, "build", "ringtrain"))
    parser.add_argument("--mpirun", default="mpirun")
    parser.add_argument("--repeats", type=int, default=20, help="trials of the frozen rank")
    parser.add_argument("--other-repeats", type=int, default=10, help="trials of the killed rank and the host")
    parser.add_argument("--soak-minutes", type=float, default=10)
    parser.add_argument("--overhead-pairs", type=int, default=10)
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ringtrain-bench-liveness-")
    results = []
    for case, repeats in (("stop", args.repeats), ("kill", args.other_repeats), ("host", args.other_repeats)):
        for number in range(repeats):
            result = trial(args, work, case, number)
            print(f"{case} {result['victims']}: {result['seconds']:.1f} s, exit {result['exit']}, "
                  f"named by {result['by']}", flush=True)
            if not result["named"] or result["seconds"] >= BOUND or result["exit"] == 0:
                print(result["stderr"], file=sys.stderr)
            results.append(result)
    cost = overhead(args, work) if args.overhead_pairs > 0 else None
    if cost:
        print(f"recorder: {cost['on_ms']:.3f} ms on, {cost['off_ms']:.3f} ms off, ratio {cost['ratio']:.4f}",
              flush=True)
    soaked = soak(args, work) if args.soak_minutes > 0 else None
    if soaked:
        print(f"soak: {soaked['minutes']:.1f} min, exit {soaked['exit']}, alarm {soaked['alarm']}", flush=True)
        if soaked["exit"] != 0:
            print(soaked["stderr"], file=sys.stderr)
    write_report(args, results, soaked, cost)


def write_report(args, results, soaked, cost):
    cases = {"stop": "one rank SIGSTOP'd (frozen)", "kill": "one rank SIGKILL'd",
             "host": "both ranks of one emulated host SIGSTOP'd"}
    lines = [BEGIN, "## Liveness (`scripts/bench-liveness.sh`)", "",
             f"{datetime.date.today().isoformat()}, revision {git_revision()}, on {os.cpu_count()} cores. Four "
             "ranks train an MLP with default settings (`--heartbeat-timeout 10`, `--comm-timeout 300`); at a "
             "random point (1.2 to 5 s after the first log line) a random rank, or both ranks of a random "
             "emulated host, gets the signal. Seconds from the signal until every rank had exited; the bound is "
             f"the heartbeat timeout plus 5 s ({BOUND} s).", "",
             "| case | runs | all ranks exited non-zero | report named exactly the lost ranks | seconds, median | "
             "seconds, max | within the bound |",
             "|---|---|---|---|---|---|---|"]
    for case, title in cases.items():
        mine = [r for r in results if r["case"] == case]
        if not mine:
            continue
        seconds = [r["seconds"] for r in mine]
        by = {who: sum(r["by"] == who for r in mine) for who in ("heartbeats", "launcher")}
        named = f"{sum(r['named'] for r in mine)}/{len(mine)}"
        if case == "kill":
            named += f" ({by['heartbeats']} by the heartbeats, {by['launcher']} by mpirun)"
        lines.append(f"| {title} | {len(mine)} | {sum(r['exit'] != 0 for r in mine)}/{len(mine)} | {named} | "
                     f"{statistics.median(seconds):.1f} | {max(seconds):.1f} | "
                     f"{sum(s < BOUND for s in seconds)}/{len(mine)} |")
    if soaked:
        hogs = len(os.sched_getaffinity(0))
        lines += ["", f"No false alarm: 6 ranks training beside {hogs} CPU hogs on {hogs} cores for "
                  f"{soaked['minutes']:.1f} minutes, then stopped by SIGTERM, ended with exit status "
                  f"{soaked['exit']} and {'an alarm' if soaked['alarm'] else 'no alarm'}:", "",
                  f"    {soaked['command']}"]
    if cost:
        lines += ["", f"The flight recorder (each rank's ring of calls and phases, always on) costs "
                  f"{100 * (cost['ratio'] - 1):+.2f}% of step time on the overhead-bound MLP at 2 ranks (target: at "
                  f"most +1%): median {cost['on_ms']:.3f} ms per step with it, {cost['off_ms']:.3f} ms without, over "
                  f"{cost['pairs']} pairs of runs in alternating order:", "", f"    {cost['command']}"]
    lines += ["", f"Made by `scripts/bench-liveness.sh --repeats {args.repeats} --other-repeats "
              f"{args.other_repeats} --soak-minutes {args.soak_minutes:g} --overhead-pairs {args.overhead_pairs}`.",
              END]
    replace_section(args.output, BEGIN, END, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
