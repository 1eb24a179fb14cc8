"""What the always-on flight recorder costs per training step, derived from parts that can be
measured precisely on a noisy machine, since whole runs differ by more than 1% from one run to the
next (the "Liveness" section's paired runs):

1. Per call: `ringtrain bench-comm` on one rank with an 8-byte allreduce, a call that is nearly all
   overhead, many times, with the recorder on and off (RINGTRAIN_FLIGHT_RECORDER=off) in
   alternating pairs: the median of the pairs' differences in time per call.
2. Per step: how many communication calls and phase marks a step of the overhead-bound MLP makes on
   each rank, counted in a `--trace` of it at 2 ranks.
3. That MLP's step time at 2 ranks (the median of a few runs).

The recorder's share of a step is (calls + marks) x the cost per call / the step time. A phase mark
is cheaper than a call (one clock reading and a few atomic stores, against two clock readings, four
short locks and a map lookup), so counting marks as calls errs high; the cost per call is measured
with warm caches and no other thread contending for the log's lock, so the share is an estimate,
not a bound. Writes the "Flight
recorder cost" section of docs/BENCHMARKS.md. Run through scripts/bench-recorder.sh."""
import argparse
import collections
import datetime
import json
import os
import shlex
import statistics
import subprocess
import tempfile

from benchmarks_doc import git_revision, replace_section

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- recorder:begin -->", "<!-- recorder:end -->"
# The overhead-bound MLP of the throughput benchmark (64-128-10, batch 32), as in the Liveness section.
MLP_ARGS = ["--train", "synthetic:400000:64:10", "--val", "none", "--hidden", "128", "--batch-size", "32",
            "--max-steps", "3000", "--log-every", "500", "--threads", "1", "--progress", "off"]
TRACED = (1001, 1100)


def checked(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"bench-recorder: {shlex.join(command)} failed:\n{result.stderr}")
    return result


def call_cost(args, work):
    """Median time per call with the recorder on and off, and the median of the pairs' differences."""
    times = {"on": [], "off": []}
    differences = []
    for pair in range(args.pairs):
        mine = {}
        for setting in (("on", "off") if pair % 2 == 0 else ("off", "on")):
            out = os.path.join(work, f"calls-{pair}-{setting}.json")
            command = [args.ringtrain, "bench-comm", "-b", "8", "-e", "8", "-n", str(args.iterations), "-w", "2000",
                       "--collectives", "allreduce", "--algorithms", "native", "--device", "cpu", "--threads", "1",
                       "--heartbeat-timeout", "0", "--json", out]
            checked(command, dict(os.environ, RINGTRAIN_FLIGHT_RECORDER=setting))
            with open(out) as f:
                mine[setting] = json.load(f)["rows"][0]["time_us"] * 1000
            times[setting].append(mine[setting])
        differences.append(mine["on"] - mine["off"])
    return {"on_ns": statistics.median(times["on"]), "off_ns": statistics.median(times["off"]),
            "cost_ns": statistics.median(differences), "pairs": args.pairs, "iterations": args.iterations,
            "command": "RINGTRAIN_FLIGHT_RECORDER=on|off " + shlex.join(command[:-2])}


def mlp_command(args, out, extra=()):
    return [args.mpirun, "--oversubscribe", "--bind-to", "none", "-np", "2", args.ringtrain, "train",
            "--output-dir", out] + MLP_ARGS + list(extra)


def per_step(args, work):
    """The most calls and phase marks any rank makes per step, over the traced steps."""
    out = os.path.join(work, "traced")
    checked(mlp_command(args, out, ["--trace", "trace.json", "--trace-steps", f"{TRACED[0]}:{TRACED[1]}"]))
    with open(os.path.join(out, "trace.json")) as f:
        events = [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]
    calls, marks = collections.Counter(), collections.Counter()
    for event in events:
        if event["cat"] == "communication":
            calls[event["pid"]] += 1
        elif event["cat"] == "phase":
            marks[event["pid"]] += 1
    steps = TRACED[1] - TRACED[0] + 1
    return max(calls.values()) / steps, max(marks.values()) / steps


def step_time(args, work):
    milliseconds = []
    for run in range(args.step_runs):
        out = os.path.join(work, f"mlp-{run}")
        checked(mlp_command(args, out))
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        milliseconds.append(1000 * summary["global_batch"] / summary["samples_per_sec"])
    return statistics.median(milliseconds), milliseconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ringtrain", default=os.path.join(ROOT, "build", "ringtrain"))
    parser.add_argument("--mpirun", default="mpirun")
    parser.add_argument("--pairs", type=int, default=31, help="pairs of bench-comm runs, recorder on and off")
    parser.add_argument("--iterations", type=int, default=200000, help="calls per bench-comm run")
    parser.add_argument("--step-runs", type=int, default=3)
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ringtrain-bench-recorder-")
    cost = call_cost(args, work)
    print(f"per call: {cost['on_ns']:.1f} ns on, {cost['off_ns']:.1f} ns off, cost {cost['cost_ns']:.1f} ns",
          flush=True)
    calls, marks = per_step(args, work)
    print(f"per step: {calls:g} calls, {marks:g} phase marks", flush=True)
    step_ms, runs = step_time(args, work)
    share = (calls + marks) * max(cost["cost_ns"], 0) / (step_ms * 1e6)
    print(f"step: {step_ms:.3f} ms (runs {', '.join(f'{ms:.3f}' for ms in runs)}); share {100 * share:.3f}%",
          flush=True)
    lines = [BEGIN, "## Flight recorder cost (`scripts/bench-recorder.sh`)", "",
             f"{datetime.date.today().isoformat()}, revision {git_revision()}, on {os.cpu_count()} cores. Whole runs "
             "of the overhead-bound MLP differ by more than 1% from one to the next on this machine (the paired "
             "runs in the Liveness section), so the recorder's share of a step is put together from parts that "
             "can be measured precisely: its cost per call, the calls and phase marks per step, and the step "
             "time. A phase mark (a clock reading and a few atomic stores) costs less than a call (two clock "
             "readings, four short locks, a map lookup), so counting marks as calls errs high; the cost per "
             "call is measured with warm caches and no other thread contending for the log's lock, so the "
             "share is an estimate, not a bound.", "",
             "| part | figure |", "|---|---|",
             f"| an 8-byte allreduce on one rank, recorder on | {cost['on_ns']:.1f} ns (median of {cost['pairs']} "
             f"runs of {cost['iterations']} calls) |",
             f"| the same, recorder off | {cost['off_ns']:.1f} ns |",
             f"| cost per call (median of the pairs' differences) | {cost['cost_ns']:.1f} ns |",
             f"| calls per step (2 ranks, the most on any rank, steps {TRACED[0]}-{TRACED[1]} traced) | {calls:g} |",
             f"| phase marks per step | {marks:g} |",
             f"| step time (median of {len(runs)} runs at 2 ranks) | {step_ms:.3f} ms |",
             f"| **recorder's share of the step, estimated** | **{100 * share:.3f}%** (target: at most 1%) |", "",
             "Commands:", "", f"    {cost['command']}", f"    {shlex.join(mlp_command(args, 'OUT'))}", "",
             f"Made by `scripts/bench-recorder.sh --pairs {args.pairs} --iterations {args.iterations} "
             f"--step-runs {args.step_runs}`.", END]
    replace_section(args.output, BEGIN, END, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
