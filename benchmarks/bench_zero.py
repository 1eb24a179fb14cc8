"""Sharded data parallelism benchmark: `ringtrain train --zero 0|1|2` with AdamW at 2 and 4 ranks on the
communication-bound and compute-bound MLPs of the throughput benchmark. Per stage: the bytes per parameter each
rank holds for parameters, gradients and optimizer state (from summary.json) beside the ZeRO and Megatron
formulas, the drop in each rank's peak RSS against --zero 0 beside the theoretical saving, and the step time
against --zero 0. Writes the "Sharded data parallelism" section of docs/BENCHMARKS.md. Run through
scripts/bench-zero.sh."""
import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import tempfile

from benchmarks_doc import git_revision, replace_section

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- zero:begin -->", "<!-- zero:end -->"
MIB = 1024 * 1024
STAGES = (0, 1, 2)
RSS_TARGET = 0.8     # the drop in peak RSS per rank, as a share of the theoretical saving
SPEED_TARGET = 1.03  # step time against --zero 0

# name -> features, hidden, per-rank batch, steps
REGIMES = {
    "communication-bound": (1024, "4096,4096", 4, 30),
    "compute-bound": (784, "1024,1024", 64, 60),
}


def parameter_count(features, hidden, classes=10):
    widths = [features] + [int(h) for h in hidden.split(",")] + [classes]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


class Runner:
    def __init__(self, ringtrain, mpirun, work):
        self.ringtrain = ringtrain
        self.mpirun = mpirun
        self.work = work
        self.count = 0

    def train(self, ranks, flags):
        self.count += 1
        out = os.path.join(self.work, str(self.count))
        command = [self.mpirun, "--oversubscribe", "--bind-to", "none", "-np", str(ranks), self.ringtrain, "train",
                   *flags, "--output-dir", out]
        shown = " ".join(shlex.quote(str(c)) for c in command)
        result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"bench-zero: {shown} failed:\n{result.stdout}\n{result.stderr}")
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        # The step time from the logged windows after the first, which holds the warm-up.
        with open(os.path.join(out, "metrics.jsonl")) as f:
            windows = [json.loads(line) for line in f if '"samples_per_sec"' in line]
        rates = [w["samples_per_sec"] for w in windows[1:]] or [summary["samples_per_sec"]]
        summary["step_ms"] = 1000 * summary["global_batch"] / statistics.median(rates)
        summary["command"] = shown
        return summary


# AdamW in float32: 16 bytes per parameter per rank without sharding, of which each stage spreads
# these over the ranks (the optimizer state, and with stage 2 the gradients too).
UNSHARDED_BYTES = 16
SHARDED_BYTES = {0: 0, 1: 8, 2: 12}


def saved_bytes_per_parameter(stage, ranks):
    """What --zero `stage` saves per parameter per rank against --zero 0."""
    return SHARDED_BYTES[stage] * (ranks - 1) / ranks


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ringtrain", default=os.path.join(ROOT, "build", "ringtrain"))
    parser.add_argument("--mpirun", default="mpirun")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ranks", default="2,4")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = parser.parse_args()

    run = Runner(args.ringtrain, args.mpirun, tempfile.mkdtemp(prefix="ringtrain-bench-zero-"))
    results = {}  # (regime, ranks, stage) -> summaries
    for regime, (features, hidden, batch, steps) in REGIMES.items():
        flags = ["--train", f"synthetic:{batch * 4 * (steps + 1)}:{features}:10", "--val", "none",
                 "--hidden", hidden, "--optimizer", "adamw", "--lr", "0.001", "--batch-size", str(batch),
                 "--max-steps", str(steps), "--log-every", "5", "--threads", "1", "--progress", "off"]
        for ranks in [int(r) for r in args.ranks.split(",")]:
            for _ in range(args.repeats):
                # Interleaved, so that the machine's drift falls on every stage alike.
                for stage in STAGES:
                    results.setdefault((regime, ranks, stage), []).append(
                        run.train(ranks, flags + ["--zero", str(stage)]))
    write_report(args, results)


def write_report(args, results):
    now = datetime.date.today().isoformat()
    median = statistics.median
    lines = [BEGIN, "## Sharded data parallelism (`scripts/bench-zero.sh`)", "",
             f"Measured {now} on this machine ({os.cpu_count()} cores), ringtrain {git_revision()}, medians of "
             f"{args.repeats} runs in one session, the stages interleaved. AdamW in float32 on the MLPs of the "
             "throughput benchmark, 1 thread per rank. Bytes per parameter are what the rank holding most holds "
             "between steps (summary.json's `memory`, over the model's parameters; the gradient peak is the most "
             "held during a step). The formulas are ZeRO's, (2+2)Ψ + KΨ/W for stage 1 and 2Ψ + (2+K)Ψ/W for "
             "stage 2 over W ranks, written for the paper's fp16 weights and gradients with K = 12 bytes of "
             "optimizer state; here the weights and gradients take 4 bytes and AdamW's state K = 8, so 8 + 8/W "
             "and 4 + 12/W bytes per parameter. Megatron's distributed optimizer in float32 (16 → 8 + 8/W) is "
             "stage 1.", ""]
    lines += ["| model | ranks | --zero | parameters | gradients (peak) | optimizer | total | formula | "
              "peak RSS by rank (MiB) | drop against --zero 0, by rank | theoretical | step (ms) | vs --zero 0 |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    verdicts = []
    for (regime, ranks, stage), summaries in results.items():
        features, hidden, _, _ = REGIMES[regime]
        parameters = parameter_count(features, hidden)
        memory = summaries[0]["memory"]
        per = {key: memory[key] / parameters for key in
               ("parameter_bytes", "gradient_bytes", "gradient_peak_bytes", "optimizer_state_bytes")}
        total = per["parameter_bytes"] + per["gradient_bytes"] + per["optimizer_state_bytes"]
        formula = UNSHARDED_BYTES - saved_bytes_per_parameter(stage, ranks)
        rss = [median(s["memory"]["peak_rss_mib_by_rank"][r] for s in summaries) for r in range(ranks)]
        base = results[(regime, ranks, 0)]
        base_rss = [median(s["memory"]["peak_rss_mib_by_rank"][r] for s in base) for r in range(ranks)]
        drops = [b - m for b, m in zip(base_rss, rss)]
        theory = saved_bytes_per_parameter(stage, ranks) * parameters / MIB
        step = median(s["step_ms"] for s in summaries)
        ratio = step / median(s["step_ms"] for s in base)
        lines.append(
            f"| {regime} ({parameters / 1e6:.1f}M) | {ranks} | {stage} | {per['parameter_bytes']:.2f} | "
            f"{per['gradient_bytes']:.2f} ({per['gradient_peak_bytes']:.2f}) | {per['optimizer_state_bytes']:.2f} | "
            f"{total:.2f} | {formula:.2f} | {', '.join(f'{r:.0f}' for r in rss)} | "
            f"{', '.join(f'{d:+.0f}' for d in drops) if stage else '—'} | {theory:.0f} MiB | {step:.1f} | {ratio:.3f}x |")
        if stage == 0:
            continue
        largest_bucket = summaries[0]["largest_bucket_bytes"]
        optimizer_bound = 8 * parameters / ranks + largest_bucket
        verdicts.append((f"{regime}, {ranks} ranks, --zero {stage}: optimizer bytes per rank ≤ 8P/W + one bucket",
                         f"{memory['optimizer_state_bytes'] / MIB:.1f} MiB ≤ {optimizer_bound / MIB:.1f} MiB",
                         memory["optimizer_state_bytes"] <= optimizer_bound))
        if stage == 2:
            gradient_bound = 4 * parameters / ranks + 2 * largest_bucket
            verdicts.append((f"{regime}, {ranks} ranks, --zero 2: gradient bytes per rank ≤ 4P/W + two buckets "
                             "(peak)", f"{memory['gradient_peak_bytes'] / MIB:.1f} MiB ≤ {gradient_bound / MIB:.1f} MiB",
                             memory["gradient_peak_bytes"] <= gradient_bound))
        if regime == "communication-bound" and ranks == 4:
            worst = min(drops)
            verdicts.append((f"{regime}, 4 ranks, --zero {stage}: peak RSS drop per rank ≥ {RSS_TARGET:.0%} of "
                             f"{theory:.0f} MiB", f"{worst:.0f} MiB at the worst rank (rank {drops.index(worst)})",
                             worst >= RSS_TARGET * theory))
        verdicts.append((f"{regime}, {ranks} ranks, --zero {stage}: step time ≤ {SPEED_TARGET}x --zero 0",
                         f"{ratio:.3f}x", ratio <= SPEED_TARGET))
    lines += ["", "Every run ends with its final checkpoint, which rank 0 writes tensor by tensor, the other ranks "
              "sending their slices of the optimizer state one piece at a time: rank 0 never holds the whole state, "
              "so its drop is what training itself saves, as on the other ranks. Rank 0's peak is above the others' "
              "in every stage alike: it alone writes the checkpoints and the run's outputs."]
    lines += ["", "| target | figure | verdict |", "|---|---|---|"]
    lines += [f"| {target} | {figure} | {'met' if met else '**missed**'} |" for target, figure, met in verdicts]
    lines += ["", "Commands (one repeat of each shown):", "", "```"]
    lines += [summaries[0]["command"] for summaries in results.values()]
    lines += ["```", END, ""]
    replace_section(args.output, BEGIN, END, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
