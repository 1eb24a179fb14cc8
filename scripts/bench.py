"""Side-by-side throughput of ringtrain and PyTorch DDP (gloo) on the same work, plus the allreduce
bandwidth sweep; writes docs/BENCHMARKS.md and docs/benchmarks.png. Run through scripts/bench.sh."""
import argparse
import datetime
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile

import numpy as np

CONTROL = "2 independent 1-rank ringtrain jobs at once"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"]

# name -> model, inputs (features, or image side for the CNN), hidden, per-rank batch, steps, what
# the regime stresses
REGIMES = [
    ("overhead-bound", "mlp", 64, "128", 32, 3000, "small MLP 64-128-10, batch 32: per-step overhead"),
    ("communication-bound", "mlp", 1024, "4096,4096", 4, 30,
     "wide MLP 1024-4096-4096-10 (21M parameters), batch 4: gradient traffic"),
    ("compute-bound", "mlp", 784, "1024,1024", 64, 60, "MLP 784-1024-1024-10, batch 64: arithmetic"),
    ("cnn", "cnn", 28, "128", 32, 300, "ringtrain's CNN on 28x28 images, batch 32"),
]


def write_idx(path, array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def image_data(directory, samples, side):
    rng = np.random.default_rng(0)
    os.makedirs(directory, exist_ok=True)
    for prefix, count in (("train", samples), ("t10k", 256)):
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte"),
                  rng.integers(0, 256, (count, side, side)))
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte"), rng.integers(0, 10, count))


def shell(command):
    return " ".join(command)


class Runner:
    def __init__(self, ringtrain, workdir, threads):
        self.ringtrain = ringtrain
        self.workdir = workdir
        self.threads = threads
        self.env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.port = 29600
        self.commands = []

    def run(self, command):
        result = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=1200)
        if result.returncode != 0:
            sys.exit(f"bench: failed ({result.returncode}): {shell(command)}\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def train_command(self, regime, ranks, extra, data, tag):
        name, model, inputs, hidden, batch, steps, _ = regime
        out = os.path.join(self.workdir, f"{tag}-{len(self.commands)}")
        if model == "mlp":
            samples = max(4000, batch * ranks * steps)
            train, val = f"synthetic:{samples}:{inputs}:10", f"synthetic:256:{inputs}:10"
        else:
            train = val = f"idx:{data}"
        command = MPIRUN + ["-np", str(ranks), self.ringtrain, "train", "--model", model, "--train", train,
                            "--val", val, "--hidden", hidden, "--batch-size", str(batch), "--max-steps",
                            str(steps), "--threads", str(self.threads), "--progress", "off",
                            "--log-every", "1000000"] + extra + ["--output-dir", out]
        return command

    def ringtrain_train(self, regime, ranks, extra, data):
        steps = regime[5]
        command = self.train_command(regime, ranks, extra, data, f"{regime[0]}-{ranks}")
        out = command[-1]
        self.commands.append(shell(command))
        self.run(command)
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        return {"samples_per_sec": summary["samples_per_sec"],
                "step_ms": summary["training_seconds"] / steps * 1000,
                "exposed_share": summary["exposed_comm_seconds"] / summary["training_seconds"],
                "peak_rss_mib": summary["peak_rss_mib"],
                "bucket_mib": summary["largest_bucket_bytes"] / 2**20}

    def independent_pair(self, regime, data):
        """Two 1-rank jobs at once: what sharing the machine costs without any communication."""
        name, *_ = regime
        outs, processes = [], []
        for copy in range(2):
            command = self.train_command(regime, 1, [], data, f"{name}-pair{copy}")
            outs.append(command[-1])
            self.commands.append(shell(command) + " &")
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                              text=True, env=self.env))
        for process in processes:
            _, errors = process.communicate(timeout=1200)
            if process.returncode != 0:
                sys.exit(f"bench: an independent run failed:\n{errors}")
        summaries = []
        for out in outs:
            with open(os.path.join(out, "summary.json")) as f:
                summaries.append(json.load(f))
        steps = regime[5]
        return {"samples_per_sec": sum(s["samples_per_sec"] for s in summaries),
                "step_ms": max(s["training_seconds"] for s in summaries) / steps * 1000,
                "peak_rss_mib": max(s["peak_rss_mib"] for s in summaries)}

    def ddp_train(self, regime, ranks):
        name, model, inputs, hidden, batch, steps, _ = regime
        self.port += 1
        samples = max(4000, batch * ranks * steps) if model == "mlp" else 10000
        command = MPIRUN + ["-np", str(ranks), sys.executable, os.path.join(ROOT, "scripts", "ddp_reference.py"),
                            "--model", model, "--inputs", str(inputs), "--hidden", hidden, "--batch-size",
                            str(batch), "--steps", str(steps), "--samples", str(samples), "--threads",
                            str(self.threads), "--port", str(self.port)]
        self.commands.append(shell(command))
        lines = [line for line in self.run(command).splitlines() if line.startswith("{")]
        return json.loads(lines[-1])


def median_of(runs, key):
    return statistics.median(run[key] for run in runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ringtrain", default=os.path.join(ROOT, "build", "ringtrain"))
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; medians are quoted")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    parser.add_argument("--report-only", metavar="JSON",
                        help="rewrite the page from the raw figures a previous run saved, measuring nothing")
    args = parser.parse_args()
    if args.report_only:
        with open(args.report_only) as f:
            raw = json.load(f)
        results = {(x["regime"], x["system"], x["ranks"]): x for x in raw["results"]}
        write_report(args, results, raw["comm"], raw["comm_text"], raw["commands"])
        return

    with tempfile.TemporaryDirectory(prefix="ringtrain-bench-") as workdir:
        runner = Runner(args.ringtrain, workdir, args.threads)
        images = os.path.join(workdir, "images")
        image_data(images, 10000, 28)

        systems = {
            "ringtrain": lambda regime, ranks: runner.ringtrain_train(regime, ranks, [], images),
            "ringtrain --no-overlap": lambda regime, ranks: runner.ringtrain_train(regime, ranks, ["--no-overlap"], images),
            "PyTorch DDP": lambda regime, ranks: runner.ddp_train(regime, ranks),
            CONTROL: lambda regime, ranks: runner.independent_pair(regime, images),
        }
        results = {}
        for regime in REGIMES:
            for ranks in (1, 2):
                for system, launch in systems.items():
                    if system in ("ringtrain --no-overlap", CONTROL) and ranks == 1:
                        continue
                    if system == CONTROL and regime[0] != "compute-bound":
                        continue
                    runs = []
                    for _ in range(args.repeats):
                        runs.append(launch(regime, ranks))
                        print(f"bench: {regime[0]} {system} x{ranks}: {runs[-1]['samples_per_sec']:.0f} samples/s",
                              flush=True)
                    results[(regime[0], system, ranks)] = {key: median_of(runs, key) for key in runs[0]}

        comm_json = os.path.join(workdir, "comm.json")
        comm_command = MPIRUN + ["-np", "2", args.ringtrain, "bench-comm", "-b", "1K", "-e", "64M", "-n", "20",
                                 "--json", comm_json]
        runner.commands.append(shell(comm_command))
        comm_text = runner.run(comm_command)
        with open(comm_json) as f:
            comm = json.load(f)

    raw = {"results": [{"regime": k[0], "system": k[1], "ranks": k[2], **v} for k, v in results.items()],
           "comm": comm, "comm_text": comm_text, "commands": runner.commands}
    with open(os.path.join(os.path.dirname(args.output), "benchmarks.json"), "w") as f:
        json.dump(raw, f, indent=1)
    write_report(args, results, comm, comm_text, runner.commands)


def verdict(ok):
    return "met" if ok else "**missed**"


def write_report(args, results, comm, comm_text, commands):
    r = results
    lines = []
    cpu = "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import torch
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    lines += ["# Benchmarks", "",
              f"Measured {datetime.date.today().isoformat()} on {cpu}, {os.cpu_count()} cores, "
              f"{platform.system()} {platform.release()}; ringtrain {commit}, LibTorch/PyTorch {torch.__version__}, "
              f"{args.threads} thread(s) per rank, every figure the median of {args.repeats} runs taken in the "
              "same session. The machine is shared, so compare figures within this page, not across pages.", "",
              "Regenerate with `scripts/bench.sh` (it builds ringtrain, runs everything below and rewrites this "
              "file and `docs/benchmarks.png`).", "",
              "## Training throughput: ringtrain against PyTorch DDP", "",
              "Same model, optimizer (SGD, momentum 0.9), per-rank batch, thread count and launcher (mpirun); "
              "DDP uses the gloo backend with `gradient_as_bucket_view=True` (`scripts/ddp_reference.py`). "
              "Step time is training time / steps; scaling efficiency is 2-rank throughput / (2 x 1-rank "
              "throughput); exposed communication is the share of training time ringtrain's reducer spent "
              "waiting for gradients after backward.", "",
              "| regime | ranks | system | samples/s | step (ms) | scaling eff. | exposed comm | peak RSS/rank (MiB) |",
              "|---|---|---|---|---|---|---|---|"]
    for name, *_rest in REGIMES:
        for ranks in (1, 2):
            for system in ("ringtrain", "ringtrain --no-overlap", "PyTorch DDP", CONTROL):
                row = r.get((name, system, ranks))
                if row is None:
                    continue
                efficiency = "-"
                if ranks == 2 and system != CONTROL:
                    single = r[(name, "PyTorch DDP" if system == "PyTorch DDP" else "ringtrain", 1)]
                    efficiency = f"{row['samples_per_sec'] / (2 * single['samples_per_sec']):.2f}"
                exposed = f"{100 * row['exposed_share']:.1f}%" if "exposed_share" in row and ranks == 2 else "-"
                lines.append(f"| {name} | {ranks} | {system} | {row['samples_per_sec']:.0f} | {row['step_ms']:.3f} | "
                             f"{efficiency} | {exposed} | {row['peak_rss_mib']:.0f} |")
    lines += ["", "Regimes:"] + [f"- {name}: {text}." for name, _m, _i, _h, _b, _s, text in REGIMES]

    def speedup(name):
        return r[(name, "ringtrain", 2)]["samples_per_sec"] / r[(name, "PyTorch DDP", 2)]["samples_per_sec"]

    compute_ratio = r[("compute-bound", "ringtrain", 2)]["step_ms"] / r[("compute-bound", "ringtrain", 1)]["step_ms"]
    sharing_ratio = r[("compute-bound", CONTROL, 2)]["step_ms"] / r[("compute-bound", "ringtrain", 1)]["step_ms"]
    large = [row for row in comm["rows"] if row["bytes"] >= 4 << 20]
    ring_gap = min(ring["busbw_gbps"] / native["busbw_gbps"]
                   for native, ring in zip([x for x in large if x["algorithm"] == "native"],
                                           [x for x in large if x["algorithm"] == "ring"]))
    rss_limit_ok = all(
        r[(name, "ringtrain", 2)]["peak_rss_mib"]
        <= (r[(name, "ringtrain", 1)]["peak_rss_mib"] + r[(name, "ringtrain", 2)]["bucket_mib"]) * 1.05
        for name, *_ in REGIMES)
    lines += ["", "## Targets (2 ranks, measured side by side above)", "",
              "| target | figure | verdict |", "|---|---|---|",
              f"| overhead-bound: ringtrain >= 3x DDP samples/s | {speedup('overhead-bound'):.2f}x | "
              f"{verdict(speedup('overhead-bound') >= 3)} |",
              f"| communication-bound: ringtrain >= 1.5x DDP | {speedup('communication-bound'):.2f}x | "
              f"{verdict(speedup('communication-bound') >= 1.5)} |",
              f"| compute-bound: 2-rank step <= 1.05x 1-rank step | {compute_ratio:.3f}x (two independent 1-rank "
              f"jobs at once, no communication: {sharing_ratio:.3f}x) | {verdict(compute_ratio <= 1.05)} |",
              f"| compute-bound: never slower than DDP | {speedup('compute-bound'):.2f}x | "
              f"{verdict(speedup('compute-bound') >= 1)} |",
              f"| CNN: never slower than DDP | {speedup('cnn'):.2f}x | {verdict(speedup('cnn') >= 1)} |",
              f"| ring busbw within 10% of native at >= 4 MiB | worst ring/native {ring_gap:.2f} | "
              f"{verdict(ring_gap >= 0.9)} |",
              f"| peak RSS at 2 ranks <= 1-rank RSS + largest bucket + 5% | see table | {verdict(rss_limit_ok)} |",
              ""] + breakdown(r, comm) + [
              "", "## Allreduce bandwidth (`ringtrain bench-comm`, 2 ranks, float sum)", "", "```", comm_text.rstrip(), "```",
              "", "![throughput and bandwidth](benchmarks.png)", "", "## Commands", "",
              "Every command this page was made from, in order:", "", "```"] + commands + ["```", ""]
    with open(args.output, "w") as f:
        f.write("\n".join(lines))
    plot(results, comm, os.path.join(os.path.dirname(args.output), "benchmarks.png"))
    print(f"bench: wrote {args.output}")


def breakdown(r, comm):
    """Where each 2-rank step goes, from the counters measured above."""
    lines = ["## Where the 2-rank step time goes", "",
             "From the runs above: the 1-rank step, what running two jobs side by side costs without any "
             "communication (compute-bound only), and the time ringtrain's reducer waited for "
             "communication after backward (`exposed_comm_seconds` / steps, slowest rank).", "",
             "| regime | 1-rank step (ms) | 2-rank step (ms) | exposed comm per step (ms) | rest (ms) | "
             "2-rank `--no-overlap` step (ms) |", "|---|---|---|---|---|---|"]
    for name, *_ in REGIMES:
        one, two = r[(name, "ringtrain", 1)], r[(name, "ringtrain", 2)]
        exposed = two["exposed_share"] * two["step_ms"]
        lines.append(f"| {name} | {one['step_ms']:.3f} | {two['step_ms']:.3f} | {exposed:.3f} | "
                     f"{two['step_ms'] - exposed:.3f} | {r[(name, 'ringtrain --no-overlap', 2)]['step_ms']:.3f} |")
    one = r[("compute-bound", "ringtrain", 1)]["step_ms"]
    two = r[("compute-bound", "ringtrain", 2)]
    shared = r[("compute-bound", CONTROL, 2)]["step_ms"]
    exposed = two["exposed_share"] * two["step_ms"]
    lines += ["",
              f"Compute-bound: the 2-rank step is {two['step_ms'] - one:.2f} ms longer than the 1-rank step "
              f"({one:.2f} ms). Two independent 1-rank jobs at once, which exchange nothing, took "
              f"{shared:.2f} ms per step ({shared / one:.2f}x): that part is the cost of sharing the machine's "
              f"cores, caches and memory bandwidth. The reducer waited {exposed:.2f} ms per step for "
              "communication. On CPU the allreduce over shared memory is copying and adding done by the CPU "
              "itself, so with one core per rank a communication thread takes its time from backward rather "
              "than hiding behind it; compare the overlapped and `--no-overlap` columns.", ""]
    sizes = sorted({row["bytes"] for row in comm["rows"] if row["bytes"] >= 4 << 20})
    native = {row["bytes"]: row["busbw_gbps"] for row in comm["rows"] if row["algorithm"] == "native"}
    ring = {row["bytes"]: row["busbw_gbps"] for row in comm["rows"] if row["algorithm"] == "ring"}
    lines += ["Ring against native busbw at 4 MiB and above: " +
              ", ".join(f"{size >> 20} MiB {ring[size] / native[size]:.2f}" for size in sizes) +
              ". Both move the same bytes between the ranks; the ring receives each piece into a scratch "
              "buffer and adds it in a second pass, where MPI can reduce straight out of its receive "
              "fragments, so the ring makes one more copy of half the message per call (at 2 ranks)."]
    return lines


def plot(results, comm, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    names = [regime[0] for regime in REGIMES]
    width = 0.2
    bars = [("ringtrain", 1), ("PyTorch DDP", 1), ("ringtrain", 2), ("PyTorch DDP", 2)]
    for i, (system, ranks) in enumerate(bars):
        values = [results[(name, system, ranks)]["samples_per_sec"] for name in names]
        left.bar(np.arange(len(names)) + (i - 1.5) * width, values, width, label=f"{system}, {ranks} rank(s)")
    left.set_xticks(np.arange(len(names)), names)
    left.set_yscale("log")
    left.set_ylabel("samples/s (log)")
    left.set_title("Training throughput, 1 thread per rank")
    left.legend(fontsize=8)
    for algorithm in ("native", "ring"):
        rows = [row for row in comm["rows"] if row["algorithm"] == algorithm]
        right.plot([row["bytes"] for row in rows], [row["busbw_gbps"] for row in rows], marker="o", label=algorithm)
    right.set_xscale("log", base=2)
    right.set_xlabel("message size (bytes)")
    right.set_ylabel("busbw (GB/s)")
    right.set_title("Allreduce bus bandwidth, 2 ranks (bench-comm)")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
