"""Input pipeline benchmark: how fast `ringtrain bench-data` delivers batches from shard data sets
read from disk (their pages dropped from the page cache before every measurement), against the raw
sequential read bandwidth of the same files (dd with O_DIRECT, and cat through the page cache),
and what the input costs a training step with and without prefetching. Writes the "Data loading"
section of docs/BENCHMARKS.md. Run through scripts/bench-data.sh."""
import argparse
import datetime
import glob
import json
import os
import shlex
import statistics
import subprocess
import time

import numpy as np

from benchmarks_doc import replace_section

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- data-loading:begin -->", "<!-- data-loading:end -->"
# (name, sample shape, what it stands for)
DATA_SETS = [("images", (3, 224, 224), "ImageNet-sized images, 147 KiB a sample"),
             ("small", (3, 32, 32), "CIFAR-sized images, 3 KiB a sample")]


class Runner:
    def __init__(self):
        self.commands = []

    def __call__(self, command, **kwargs):
        self.commands.append(" ".join(shlex.quote(str(c)) for c in command))
        started = time.monotonic()
        result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
        if result.returncode != 0:
            raise SystemExit(f"bench-data: {self.commands[-1]} failed:\n{result.stdout}\n{result.stderr}")
        result.seconds = time.monotonic() - started
        return result


def shards(directory):
    return sorted(glob.glob(os.path.join(directory, "*.rtshard")))


def drop_page_cache(files):
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def make_data_set(run, ringtrain, work, name, shape, gib):
    directory = os.path.join(work, name)
    if os.path.exists(os.path.join(directory, "index.json")):
        return directory, None
    count = int(gib * (1 << 30)) // int(np.prod(shape))
    source = os.path.join(work, name + ".npy")
    rng = np.random.default_rng(0)
    array = np.lib.format.open_memmap(source, mode="w+", dtype=np.uint8, shape=(count,) + shape)
    for first in range(0, count, 4096):
        array[first:first + 4096] = rng.integers(0, 256, size=array[first:first + 4096].shape, dtype=np.uint8)
    array.flush()
    del array
    np.save(os.path.join(work, name + "-labels.npy"), rng.integers(0, 10, size=count))
    drop_page_cache([source])
    result = run([ringtrain, "prep", "--input", source, "--labels", os.path.join(work, name + "-labels.npy"),
                  "--output", directory, "--progress", "off"])
    prep_mb_per_sec = os.path.getsize(source) / result.seconds / 1e6
    os.remove(source)
    return directory, prep_mb_per_sec


def raw_read(run, files, repeats):
    """Median MB/s of reading every file once, front to back: with O_DIRECT, and through the cache."""
    total = sum(os.path.getsize(f) for f in files)
    direct, cached = [], []
    for _ in range(repeats):
        drop_page_cache(files)
        started = time.monotonic()
        for path in files:
            run(["dd", f"if={path}", "of=/dev/null", "bs=4M", "iflag=direct"])
        direct.append(total / (time.monotonic() - started) / 1e6)
        drop_page_cache(files)
        started = time.monotonic()
        run(["sh", "-c", 'cat "$@" > /dev/null', "cat"] + files)
        cached.append(total / (time.monotonic() - started) / 1e6)
    return statistics.median(direct), statistics.median(cached)


def loader(run, ringtrain, directory, workers, repeats, work, shuffle=True):
    """Median MB/s and samples/s per worker count, read cold."""
    per_workers = {}
    for repeat in range(repeats):
        out = os.path.join(work, f"bench-{os.path.basename(directory)}-{repeat}.json")
        command = [ringtrain, "bench-data", directory, "--cold", "--data-workers", ",".join(map(str, workers)),
                   "--json", out] + ([] if shuffle else ["--no-shuffle"])
        run(command)
        with open(out) as f:
            for row in json.load(f)["rows"]:
                per_workers.setdefault(row["workers"], []).append(row)
    return {w: {"mb_per_sec": statistics.median(r["mb_per_sec"] for r in rows),
                "samples_per_sec": statistics.median(r["samples_per_sec"] for r in rows)}
            for w, rows in per_workers.items()}


def step_cost(run, ringtrain, directory, workers, repeats, work, steps):
    """Median share of training time the loop waited for batches, and the step time, cold."""
    shares, step_ms = [], []
    for repeat in range(repeats):
        drop_page_cache(shards(directory))
        out = os.path.join(work, f"train-{workers}-{repeat}")
        run([ringtrain, "train", "--train", directory, "--val-fraction", "0.001", "--hidden", "512,256",
             "--batch-size", "64", "--lr", "0.00001", "--max-steps", steps, "--threads", "1",
             "--data-workers", workers, "--progress", "off", "--log-every", "1000000", "--output-dir", out])
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        shares.append(summary["input_wait_seconds"] / summary["training_seconds"])
        step_ms.append(1000 * summary["training_seconds"] / summary["steps"])
    return statistics.median(shares), statistics.median(step_ms)


def verdict(ok):
    return "met" if ok else "**missed**"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ringtrain", required=True)
    parser.add_argument("--work", default="/var/tmp/ringtrain-bench-data",
                        help="where the data sets are made (kept for the next run)")
    parser.add_argument("--gib", type=float, default=3.0, help="size of each data set")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1500, help="training steps for the step-cost runs")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    run = Runner()
    workers = [0, 1, 2]
    rows, prep_rates = [], {}
    for name, shape, meaning in DATA_SETS:
        directory, prep_rate = make_data_set(run, args.ringtrain, args.work, name, shape, args.gib)
        if prep_rate:
            prep_rates[name] = prep_rate
        files = shards(directory)
        direct, cached = raw_read(run, files, args.repeats)
        shuffled = loader(run, args.ringtrain, directory, workers, args.repeats, args.work)
        ordered = loader(run, args.ringtrain, directory, [2], args.repeats, args.work, shuffle=False)
        rows.append(dict(name=name, meaning=meaning, shape=shape, bytes=sum(os.path.getsize(f) for f in files),
                         direct=direct, cached=cached, shuffled=shuffled, ordered=ordered[2]))
    small = os.path.join(args.work, "small")
    costs = {w: step_cost(run, args.ringtrain, small, w, args.repeats, args.work, args.steps) for w in (0, 1)}
    write_report(args, rows, prep_rates, costs, run.commands)


def write_report(args, rows, prep_rates, costs, commands):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    lines = [BEGIN, "## Data loading (`scripts/bench-data.sh`)", "",
             f"Measured {datetime.date.today().isoformat()} on this machine ({os.cpu_count()} cores), ringtrain "
             f"{commit}, medians of {args.repeats} runs in one session. Every measurement starts with the data "
             "set's pages dropped from the page cache, so every byte comes from disk. Raw sequential bandwidth "
             "is the same files read front to back with `dd bs=4M iflag=direct` and with `cat` through the page "
             "cache; the loader is `ringtrain bench-data --cold` (one rank's epoch in the sampler's shuffled "
             "order, batch 64, uint8 samples converted to float32); MB/s counts stored bytes (features and "
             "label).", "",
             "| data set | size | raw: dd direct | raw: cat | loader, shuffled, 0 / 1 / 2 workers (MB/s) | "
             "samples/s (best) | in order, 2 workers | best shuffled / best raw |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        best_raw = max(row["direct"], row["cached"])
        best = max(row["shuffled"].values(), key=lambda r: r["mb_per_sec"])
        mbs = " / ".join(f"{row['shuffled'][w]['mb_per_sec']:.0f}" for w in sorted(row["shuffled"]))
        row["ratio"] = best["mb_per_sec"] / best_raw
        shape = "x".join(map(str, row["shape"]))
        lines.append(f"| {row['name']} ({shape} uint8; {row['meaning']}) | {row['bytes'] / (1 << 30):.1f} GiB | "
                     f"{row['direct']:.0f} | {row['cached']:.0f} | {mbs} | {best['samples_per_sec']:.0f} | "
                     f"{row['ordered']['mb_per_sec']:.0f} | {row['ratio']:.2f} |")
    if prep_rates:
        lines += ["", "`ringtrain prep` from .npy (source dropped from the page cache first): " +
                  ", ".join(f"{name} {rate:.0f} MB/s" for name, rate in prep_rates.items()) + "."]
    share0, step0 = costs[0]
    share1, step1 = costs[1]
    lines += ["", "Cost of the input to a training step: `ringtrain train` on the small data set read cold "
              f"(MLP 3072-512-256-10, batch 64, 1 thread, {args.steps} steps), share of training time the loop "
              "waited for its next batch (`input_wait_seconds` / `training_seconds` in summary.json):", "",
              "| data workers | step (ms) | waiting for input |", "|---|---|---|",
              f"| 0 (batches assembled on the training thread) | {step0:.2f} | {100 * share0:.2f}% |",
              f"| 1 (assembled ahead) | {step1:.2f} | {100 * share1:.2f}% |", "",
              "| target | figure | verdict |", "|---|---|---|"]
    for row in rows:
        lines.append(f"| loader >= 80% of raw sequential bandwidth, shuffled: {row['name']} | {row['ratio']:.2f} | "
                     f"{verdict(row['ratio'] >= 0.8)} |")
    lines += [f"| input < 2% of the step with prefetching | {100 * share1:.2f}% | {verdict(share1 < 0.02)} |", "",
              "Shuffled reads are random reads: each sample is a separate read of the pages it lies on. Samples "
              "of 147 KiB make reads large enough for the disk to stream, and with the reads for the batches "
              "ahead announced to the kernel (`madvise(MADV_WILLNEED)`) many are in flight at once. A 3 KiB "
              "sample still costs a whole 4 KiB page and one I/O, so small samples read in a random order are "
              "bounded by the disk's random-read rate, not its bandwidth; they reach the bandwidth in order "
              "(`--no-shuffle`) or once the data set fits in the page cache.", "",
              "Commands, in order:", "", "```"] + commands + ["```", END]
    section = "\n".join(lines) + "\n"
    replace_section(args.output, BEGIN, END, section)
    print(f"bench-data: wrote the data loading section of {args.output}")


if __name__ == "__main__":
    main()
