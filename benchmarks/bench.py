"""Side-by-side throughput of ringtrain and PyTorch DDP (gloo) on the same work, plus the allreduce
bandwidth sweep; writes docs/BENCHMARKS.md and docs/benchmarks.png. Run through scripts/bench.sh."""
import argparse
import datetime
import json
import os
import re
import platform
import statistics
import struct
import subprocess
import sys
import tempfile

import numpy as np

CONTROL = "2 independent 1-rank ringtrain jobs at once"
OVERLAP_ON = "ringtrain --overlap on"
NATIVE = "ringtrain --allreduce native"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"]
RANKS = (1, 2)

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
            # The same data set at every rank count, so that memory figures compare like with like.
            samples = max(4000, batch * max(RANKS) * steps)
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
                "cpu_per_rank": summary["training_cpu_seconds"] / summary["training_seconds"],
                "peak_rss_mib": summary["peak_rss_mib"],
                "heap_free_mib": summary["heap_free_mib"],
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
        samples = max(4000, batch * max(RANKS) * steps) if model == "mlp" else 10000
        command = MPIRUN + ["-np", str(ranks), sys.executable, os.path.join(ROOT, "benchmarks", "ddp_reference.py"),
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
        write_report(args, results, raw["comm"], raw["comm_text"], raw["commands"], raw.get("profile"))
        return

    with tempfile.TemporaryDirectory(prefix="ringtrain-bench-") as workdir:
        runner = Runner(args.ringtrain, workdir, args.threads)
        images = os.path.join(workdir, "images")
        image_data(images, 10000, 28)

        systems = {
            "ringtrain": lambda regime, ranks: runner.ringtrain_train(regime, ranks, [], images),
            OVERLAP_ON: lambda regime, ranks: runner.ringtrain_train(regime, ranks, ["--overlap", "on"], images),
            NATIVE: lambda regime, ranks: runner.ringtrain_train(regime, ranks, ["--allreduce", "native"], images),
            "PyTorch DDP": lambda regime, ranks: runner.ddp_train(regime, ranks),
            CONTROL: lambda regime, ranks: runner.independent_pair(regime, images),
        }
        results = {}
        for regime in REGIMES:
            for ranks in RANKS:
                for system, launch in systems.items():
                    if system in (OVERLAP_ON, CONTROL) and ranks == 1:
                        continue
                    if system == CONTROL and regime[0] not in ("compute-bound", "communication-bound"):
                        continue
                    if system == NATIVE and (ranks == 1 or regime[0] != "communication-bound"):
                        continue
                    runs = []
                    for _ in range(args.repeats):
                        runs.append(launch(regime, ranks))
                        print(f"bench: {regime[0]} {system} x{ranks}: {runs[-1]['samples_per_sec']:.0f} samples/s",
                              flush=True)
                    results[(regime[0], system, ranks)] = {key: median_of(runs, key) for key in runs[0]}

        comm_json = os.path.join(workdir, "comm.json")
        comm_command = MPIRUN + ["-np", "2", args.ringtrain, "bench-comm", "-b", "1K", "-e", "64M", "-n", "20",
                                 "--collectives", "allreduce", "--json", comm_json]
        runner.commands.append(shell(comm_command))
        comm_text = runner.run(comm_command)
        with open(comm_json) as f:
            comm = json.load(f)
        profile = None
        if perf_works():
            profile = ring_profile(runner)
            regime = next(x for x in REGIMES if x[0] == "communication-bound")
            # More steps than the timed runs, so that start-up is a small part of the samples.
            profile["step"] = step_profile(runner, regime[:5] + (4 * regime[5],) + regime[6:])

    raw = {"results": [{"regime": k[0], "system": k[1], "ranks": k[2], **v} for k, v in results.items()],
           "comm": comm, "comm_text": comm_text, "commands": runner.commands, "profile": profile}
    with open(os.path.join(os.path.dirname(args.output), "benchmarks.json"), "w") as f:
        json.dump(raw, f, indent=1)
    write_report(args, results, comm, comm_text, runner.commands, profile)


def verdict(ok):
    return "met" if ok else "**missed**"


def write_report(args, results, comm, comm_text, commands, profile):
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
              "DDP uses the gloo backend with `gradient_as_bucket_view=True` (`benchmarks/ddp_reference.py`). "
              "Step time is training time / steps; scaling efficiency is 2-rank throughput / (2 x 1-rank "
              "throughput); exposed communication is the share of training time ringtrain's reducer spent "
              "waiting for gradients after backward; CPU/rank is the busiest rank's CPU time over its training "
              "time (1.00: one core kept busy). ringtrain's default `--overlap auto` reduces during backward only "
              "on GPUs or when each rank has a spare core; on this machine 2 ranks x 1 thread fill both cores, so "
              "it reduces after backward, and the `--overlap on` rows show what overlapping costs here.", "",
              "| regime | ranks | system | samples/s | step (ms) | scaling eff. | exposed comm | CPU/rank | "
              "peak RSS/rank (MiB) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, *_rest in REGIMES:
        for ranks in (1, 2):
            for system in ("ringtrain", OVERLAP_ON, NATIVE, "PyTorch DDP", CONTROL):
                row = r.get((name, system, ranks))
                if row is None:
                    continue
                efficiency = "-"
                if ranks == 2 and system != CONTROL:
                    single = r[(name, "PyTorch DDP" if system == "PyTorch DDP" else "ringtrain", 1)]
                    efficiency = f"{row['samples_per_sec'] / (2 * single['samples_per_sec']):.2f}"
                exposed = f"{100 * row['exposed_share']:.1f}%" if "exposed_share" in row and ranks == 2 else "-"
                cpu = f"{row['cpu_per_rank']:.2f}" if "cpu_per_rank" in row else "-"
                lines.append(f"| {name} | {ranks} | {system} | {row['samples_per_sec']:.0f} | {row['step_ms']:.3f} | "
                             f"{efficiency} | {exposed} | {cpu} | {row['peak_rss_mib']:.0f} |")
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
              ""] + breakdown(r, comm, profile) + [
              "", "## Allreduce bandwidth (`ringtrain bench-comm`, 2 ranks, float sum)", "", "```", comm_text.rstrip(), "```",
              "", "![throughput and bandwidth](benchmarks.png)", "", "## Commands", "",
              "Every command this page was made from, in order:", "", "```"] + commands + ["```", ""]
    # The data loading section is scripts/bench-data.sh's: keep it.
    kept = ""
    if os.path.exists(args.output):
        found = re.search(r"<!-- data-loading:begin -->.*?<!-- data-loading:end -->\n?", open(args.output).read(), re.S)
        kept = "\n" + found.group(0) if found else ""
    with open(args.output, "w") as f:
        f.write("\n".join(lines) + kept)
    plot(results, comm, os.path.join(os.path.dirname(args.output), "benchmarks.png"))
    print(f"bench: wrote {args.output}")


def breakdown(r, comm, profile):
    """Where each 2-rank step goes, from the counters measured above."""
    lines = ["## Where the 2-rank step time goes", "",
             "From the runs above: the 1-rank step, the time ringtrain's reducer waited for communication "
             "after backward (`exposed_comm_seconds` / steps, slowest rank), and the CPU time each rank used "
             "per second of training (`training_cpu_seconds` / `training_seconds`, busiest rank).", "",
             "| regime | 1-rank step (ms) | 2-rank step (ms) | exposed comm per step (ms) | rest (ms) | "
             "2-rank `--overlap on` step (ms) | CPU/rank, 1 rank | CPU/rank, 2 ranks |",
             "|---|---|---|---|---|---|---|---|"]
    for name, *_ in REGIMES:
        one, two, on = r[(name, "ringtrain", 1)], r[(name, "ringtrain", 2)], r[(name, OVERLAP_ON, 2)]
        exposed = two["exposed_share"] * two["step_ms"]
        lines.append(f"| {name} | {one['step_ms']:.3f} | {two['step_ms']:.3f} | {exposed:.3f} | "
                     f"{two['step_ms'] - exposed:.3f} | {on['step_ms']:.3f} | {one['cpu_per_rank']:.2f} | "
                     f"{two['cpu_per_rank']:.2f} |")
    one = r[("compute-bound", "ringtrain", 1)]["step_ms"]
    two = r[("compute-bound", "ringtrain", 2)]
    on = r[("compute-bound", OVERLAP_ON, 2)]
    shared = r[("compute-bound", CONTROL, 2)]["step_ms"]
    exposed = two["exposed_share"] * two["step_ms"]
    lines += ["",
              f"Compute-bound: the 2-rank step is {two['step_ms'] - one:.2f} ms longer than the 1-rank step "
              f"({one:.2f} ms). Two independent 1-rank jobs at once, which exchange nothing, took "
              f"{shared:.2f} ms per step ({shared / one:.2f}x): that part is the cost of sharing the machine's "
              f"cores, caches and memory bandwidth. The reducer waited {exposed:.2f} ms per step for the "
              f"allreduce. Each rank kept {two['cpu_per_rank']:.2f} core(s) busy, so with 2 ranks on "
              f"{os.cpu_count()} cores no core is idle during the step. On CPU the allreduce is copying and "
              "adding done by the CPU itself (the profile below), so it can only hide behind backward on a "
              "core backward does not use. Overlapping anyway puts the communication thread, and MPI's polling "
              f"for progress, on the cores backward needs: {on['step_ms']:.2f} ms per step with `--overlap on` "
              f"against {two['step_ms']:.2f} ms without. The 1.05x target needs spare cores (or a GPU, where NCCL "
              "moves the bytes); this machine has none.", ""]
    lines += communication_bound(r, profile) + memory(r)
    sizes = sorted({row["bytes"] for row in comm["rows"] if row["bytes"] >= 4 << 20})
    native = {row["bytes"]: row["busbw_gbps"] for row in comm["rows"] if row["algorithm"] == "native"}
    ring = {row["bytes"]: row["busbw_gbps"] for row in comm["rows"] if row["algorithm"] == "ring"}
    lines += ["Ring against native busbw at 4 MiB and above: " +
              ", ".join(f"{size >> 20} MiB {ring[size] / native[size]:.2f}" for size in sizes) + "."]
    if profile:
        lines += ["", f"CPU profile of rank 0 for {profile['calls']} allreduces of {profile['bytes'] >> 20} MiB "
                  "(`perf record -e cpu-clock`, samples at 4 kHz, whole process including start-up; "
                  "the command is listed at the end):", "",
                  "| code | native samples | ring samples | ring - native |", "|---|---|---|---|"]
        for dso in profile["rows"]:
            a, b = profile["native"].get(dso, 0), profile["ring"].get(dso, 0)
            lines.append(f"| {dso} | {a} | {b} | {b - a:+d} |")
        a, b = sum(profile["native"].values()), sum(profile["ring"].values())
        lines += [f"| total | {a} | {b} | {b - a:+d} |", "",
                  "Both algorithms move the same bytes through Open MPI's shared-memory transport (the kernel's "
                  "single-copy path). The ring's additions run in LibTorch (libtorch_cpu) where native's run in "
                  "Open MPI's AVX reduction (mca_op_avx); the rest of the difference is in the transport, its "
                  "progress loop (mca_btl_vader, libopen-pal) and the kernel, paid per message: the ring sends "
                  "one message per piece per step where Open MPI's own allreduce sends fewer, larger ones."]
    return lines


def memory(r):
    lines = ["Peak RSS per rank against the limit (1-rank peak + largest bucket + 5%), and the memory the "
             "allocator held free at the end of each run (`heap_free_mib`: resident, but not in use):", "",
             "| regime | 1-rank peak | 2-rank peak | limit | 1-rank heap free | 2-rank heap free |",
             "|---|---|---|---|---|---|"]
    over = []
    for name, *_ in REGIMES:
        one, two = r[(name, "ringtrain", 1)], r[(name, "ringtrain", 2)]
        limit = (one["peak_rss_mib"] + two["bucket_mib"]) * 1.05
        lines.append(f"| {name} | {one['peak_rss_mib']:.0f} | {two['peak_rss_mib']:.0f} | {limit:.0f} | "
                     f"{one['heap_free_mib']:.0f} | {two['heap_free_mib']:.0f} |")
        if two["peak_rss_mib"] > limit:
            over.append((name, two["peak_rss_mib"] - limit, two["heap_free_mib"] - one["heap_free_mib"]))
    lines.append("")
    for name, excess, free in over:
        lines.append(f"{name}: {excess:.0f} MiB over the limit, while the 2-rank process held {free:.0f} MiB more "
                     "free heap than the 1-rank one. ringtrain keeps freed memory in the process (so that large "
                     "gradients are not page-faulted in again every step), and at 2 ranks the communication's "
                     "own allocations, interleaved with the gradients', leave freed blocks the next step "
                     "cannot reuse whole: "
                     + ("the excess is allocator fragmentation, not live data." if free >= excess else
                        f"fragmentation accounts for {max(free, 0):.0f} MiB of the excess."))
    return lines + [""] if over else lines


def communication_bound(r, profile):
    name = "communication-bound"
    one, two = r[(name, "ringtrain", 1)]["step_ms"], r[(name, "ringtrain", 2)]
    ddp, shared = r[(name, "PyTorch DDP", 2)]["step_ms"], r[(name, CONTROL, 2)]["step_ms"]
    native = r[(name, NATIVE, 2)]["step_ms"]
    exposed = two["exposed_share"] * two["step_ms"]
    lines = [f"Communication-bound: ringtrain's 2-rank step is {two['step_ms']:.1f} ms against DDP's {ddp:.1f} ms "
             f"({ddp / two['step_ms']:.2f}x). Of its {two['step_ms'] - one:.1f} ms over the 1-rank step "
             f"({one:.1f} ms), two independent 1-rank jobs at once already take {shared - one:.1f} ms "
             f"({shared:.1f} ms per step): the wide layers stream about 250 MB of weights, gradients and "
             f"momentum per step, and two processes share one memory system. The reducer waited {exposed:.1f} ms "
             f"per step for the allreduce of 84 MB of gradients (with `--allreduce native` for the large "
             f"buckets the step was {native:.1f} ms)."]
    step = (profile or {}).get("step")
    if not step:
        return lines + [""]
    parts = step["parts"]
    names = [part for part, _ in STEP_PARTS] + ["other"]

    def ms(ranks, part):
        return parts[ranks]["samples"].get(part, 0) / 4000 / parts[ranks]["steps"] * 1000

    lines += ["", f"CPU profile of rank 0 training the communication-bound MLP for {parts[1]['steps']} steps "
              "(`perf record -e cpu-clock`, whole process; start-up is about the same at 1 and 2 ranks, so "
              "the difference is what the second rank costs), in ms of CPU per step:", "",
              "| where | 1 rank | 2 ranks | 2 - 1 |", "|---|---|---|---|"]
    for part in names:
        lines.append(f"| {part} | {ms(1, part):.1f} | {ms(2, part):.1f} | {ms(2, part) - ms(1, part):+.1f} |")
    total1, total2 = sum(ms(1, p) for p in names), sum(ms(2, p) for p in names)
    lines += [f"| total | {total1:.1f} | {total2:.1f} | {total2 - total1:+.1f} |", "",
              "The matrix multiplies (MKL's `sgemm` kernels and its `sgemm_scopy_*` packing copies of each "
              "4096x4096 weight) and the optimizer are the same work as in DDP, and with two processes "
              "streaming memory they run slower than alone. What ringtrain adds at 2 ranks is the allreduce: "
              "the Open MPI and kernel rows, and the ring's additions, which run in LibTorch."]
    needed = two["step_ms"] - ddp / 1.5
    allreduce = sum(ms(2, p) - ms(1, p) for p in names if p.startswith(("allreduce", "kernel", "other LibTorch")))
    if needed > 0:
        lines[-1] += (f" 1.5x DDP needs a step of {ddp / 1.5:.1f} ms, {needed:.1f} ms shorter; those three rows "
                      f"together grow by {allreduce:.1f} ms of CPU per step"
                      + (", so even a free allreduce would not reach it." if allreduce < needed else "."))
    lines.append("")
    return lines


def perf_works():
    return subprocess.run(["perf", "stat", "-e", "cpu-clock", "true"], capture_output=True).returncode == 0


def perf_samples(runner, name, ranks, program):
    """Runs `program` (a list) on `ranks` ranks under perf; returns rank 0's samples as
    [(count, dso, symbol)]."""
    data = os.path.join(runner.workdir, f"perf-{name}")
    record = (f"exec perf record -q -e cpu-clock -F 4000 -o {data}.$OMPI_COMM_WORLD_RANK -- "
              + " ".join(program))
    command = MPIRUN + ["-np", str(ranks), "sh", "-c", record]
    runner.commands.append(shell(command[:-1]) + f" '{record}'")
    runner.run(command)
    report = subprocess.run(["perf", "report", "-i", f"{data}.0", "--sort", "dso,symbol", "-n", "--stdio"],
                            capture_output=True, text=True).stdout
    samples = []
    for line in report.splitlines():
        fields = line.split(None, 4)
        if len(fields) == 5 and fields[0].endswith("%") and fields[1].isdigit():
            samples.append((int(fields[1]), fields[2], fields[4].strip()))
    return samples


def by_dso(samples):
    counts = {}
    for count, dso, _ in samples:
        counts[dso] = counts.get(dso, 0) + count
    return counts


def ring_profile(runner, size=4 << 20, calls=1500):
    """Samples where the CPU time of native and ring allreduces goes."""
    counts = {}
    for algorithm in ("native", "ring"):
        program = [runner.ringtrain, "bench-comm", "-b", str(size), "-e", str(size), "-n", str(calls),
                   "--algorithms", algorithm, "--collectives", "allreduce"]
        counts[algorithm] = by_dso(perf_samples(runner, algorithm, 2, program))
    runner.commands.append("perf report -i <data>.0 --sort dso,symbol -n --stdio")
    top = sorted(set(counts["native"]) | set(counts["ring"]),
                 key=lambda dso: -(counts["native"].get(dso, 0) + counts["ring"].get(dso, 0)))[:8]
    return {"bytes": size, "calls": calls, "rows": top, **counts}


# What a training step's samples are spent on, matched in order on "dso symbol".
STEP_PARTS = [
    ("matrix multiplies (MKL sgemm, with its packing copies)", ("mkl_blas",)),
    ("optimizer (fused SGD)", ("fused_sgd",)),
    ("allreduce: Open MPI (transport, progress, reduction)", ("mca_", "libopen-pal", "libmpi")),
    ("kernel (MPI's single-copy transfers, page faults, scheduling)", ("[kernel",)),
    ("other LibTorch (element-wise ops, autograd, dispatch)", ("libtorch", "libc10")),
]


def step_profile(runner, regime):
    """Where rank 0's CPU time goes in training at 1 and 2 ranks."""
    parts = {}
    for ranks in RANKS:
        command = runner.train_command(regime, ranks, [], None, f"profile{ranks}")
        program = command[len(MPIRUN) + 2:]
        totals = {}
        for count, dso, symbol in perf_samples(runner, f"train{ranks}", ranks, program):
            key = f"{dso} {symbol}"
            part = next((name for name, needles in STEP_PARTS if any(n in key for n in needles)), "other")
            totals[part] = totals.get(part, 0) + count
        with open(os.path.join(command[-1], "summary.json")) as f:
            summary = json.load(f)
        parts[ranks] = {"samples": totals, "steps": summary["steps"], "wall": summary["wall_seconds"]}
    return {"regime": regime[0], "parts": parts}


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
