"""k-means benchmark: ringtrain's onepass and lloyd against scikit-learn's KMeans (k-means++ and
Lloyd) on a real data set (scikit-learn's handwritten digits) and on Gaussian mixtures written as
shard data sets, one of them larger than this machine's memory. Prints a table of costs (relative to
scikit-learn's) and wall times, and rewrites the k-means section of docs/BENCHMARKS.md. Run through
scripts/bench-kmeans.sh."""
import argparse
import datetime
import json
import os
import subprocess
import time

import numpy as np

from benchmarks_doc import replace_section

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BEGIN = "## k-means (`scripts/bench-kmeans.sh`)"
END = "<!-- end of the k-means section -->"


def write_mixture(path, rows, dim, components, seed, chunk=1 << 20):
    """Rows of a Gaussian mixture with unequal weights and spreads, written to .npy in chunks so that
    memory stays flat whatever the size."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 5, (components, dim)).astype(np.float32)
    spreads = rng.uniform(0.5, 2, components).astype(np.float32)
    weights = rng.dirichlet(np.ones(components) * 2)
    out = np.lib.format.open_memmap(path + ".partial", mode="w+", dtype=np.float32, shape=(rows, dim))
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        which = rng.choice(components, n, p=weights)
        block = rng.standard_normal((n, dim), dtype=np.float32)
        block *= spreads[which, None]
        block += means[which]
        out[start:start + n] = block
    out.flush()
    del out
    os.rename(path + ".partial", path)


def shard_set(ringtrain, work, name, rows, dim, components, seed):
    directory = os.path.join(work, name)
    if os.path.exists(os.path.join(directory, "index.json")):
        return directory
    npy = os.path.join(work, name + ".npy")
    if not os.path.exists(npy):
        print(f"bench-kmeans: writing {name}: {rows} x {dim} float32 ({rows * dim * 4 / 2**30:.1f} GiB)", flush=True)
        write_mixture(npy, rows, dim, components, seed)
    subprocess.run([ringtrain, "prep", "--input", npy, "--output", directory, "--format", "npy",
                    "--progress", "off", "--overwrite"], check=True)
    os.remove(npy)  # the shards hold the same bytes
    return directory


def run_ringtrain(args, data, k, algorithm, out):
    """`data`: the --data spec and any further data flags."""
    command = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(args.ranks), args.ringtrain, "kmeans",
               "--data", *data, "-k", str(k), "--algorithm", algorithm, "--threads", str(args.threads),
               "--output-dir", out, "--seed", "1"]
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    return {"cost": summary["cost"], "wall": wall, "fit": summary["fit_seconds"], "passes": summary["passes"]}


def run_sklearn(features, k):
    from sklearn.cluster import KMeans
    started = time.monotonic()
    model = KMeans(k, init="k-means++", algorithm="lloyd", n_init=1, random_state=0).fit(features)
    return {"cost": float(model.inertia_), "wall": time.monotonic() - started, "iterations": int(model.n_iter_)}


def read_shards(directory):
    """A float32 shard data set's features as one array, for scikit-learn: each shard file is a
    4096-byte header followed by the samples' features."""
    with open(os.path.join(directory, "index.json")) as f:
        index = json.load(f)
    dim = int(np.prod(index["sample_shape"]))
    parts = []
    for shard in index["shards"]:
        features = np.fromfile(os.path.join(directory, shard["file"]), dtype=np.float32, offset=4096,
                               count=shard["count"] * dim)
        parts.append(features.reshape(shard["count"], dim))
    return np.concatenate(parts)


def memory_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ringtrain", required=True)
    parser.add_argument("--work", default="/var/tmp/ringtrain-bench-kmeans")
    parser.add_argument("--ks", default="10,100,500")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mixture-rows", type=int, default=1_000_000)
    parser.add_argument("--large-gib", type=float, default=0,
                        help="size of the mixture that only ringtrain reads, from disk (default: RAM + 2 GiB)")
    parser.add_argument("--large-ks", default="10,100")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    ks = [int(k) for k in args.ks.split(",")]
    dim = 32

    from sklearn.datasets import load_digits
    digits = load_digits().data.astype(np.float32)
    digits_csv = os.path.join(args.work, "digits.csv")
    np.savetxt(digits_csv, digits, delimiter=",", fmt="%g")
    mixture = shard_set(args.ringtrain, args.work, f"mixture-{args.mixture_rows}", args.mixture_rows, dim, 50, 7)
    cases = [("digits (1797 x 64)", len(digits), [digits_csv, "--label-column", "none"], lambda: digits, ks),
             (f"mixture ({args.mixture_rows} x {dim}, 50 components)", args.mixture_rows, ["shards:" + mixture],
              lambda: read_shards(mixture), ks)]
    if not args.skip_large:
        large_rows = int((args.large_gib or memory_bytes() / 2**30 + 2) * 2**30 / (4 * dim))
        large = shard_set(args.ringtrain, args.work, f"mixture-{large_rows}", large_rows, dim, 50, 11)
        cases.append((f"mixture ({large_rows} x {dim}, {large_rows * dim * 4 / 2**30:.1f} GiB on disk, "
                      f"RAM {memory_bytes() / 2**30:.1f} GiB)", large_rows, ["shards:" + large], None,
                      [int(k) for k in args.large_ks.split(",")]))
    rows = []
    out = os.path.join(args.work, "out")
    for name, data_rows, data, load, case_ks in cases:
        features = load() if load else None
        for k in case_ks:
            row = {"data": name, "data_rows": data_rows, "k": k,
                   "onepass": run_ringtrain(args, data, k, "onepass", out),
                   # Lloyd passes over data larger than memory read it from disk each time.
                   "lloyd": run_ringtrain(args, data, k, "lloyd", out) if load else None,
                   "sklearn": run_sklearn(features, k) if load else None}
            rows.append(row)
            print(json.dumps(row), flush=True)
        del features
    write_section(args, rows)


def counted(number, one, many):
    return f"{number} {one if number == 1 else many}"


def write_section(args, rows):
    def cell(result, reference):
        if result is None:
            return "–"
        ratio = f" ({result['cost'] / reference['cost']:.4f})" if reference else ""
        return (f"{result['cost']:.5g}{ratio}, {result['wall']:.1f} s (fit {result['fit']:.1f} s), "
                f"{counted(result['passes'], 'pass', 'passes')}")

    lines = [BEGIN, "",
             f"{args.ranks} ranks of `ringtrain kmeans` ({args.threads} thread each) against scikit-learn's "
             "`KMeans(k, init='k-means++', algorithm='lloyd', n_init=1)` on all cores, in one run of "
             "`scripts/bench-kmeans.sh`. Cost is the sum of squared distances over the whole data set "
             "(ringtrain's from its cost pass, which the times include); in brackets, relative to scikit-learn's. "
             "Times are wall seconds of the whole command (ringtrain: mpirun start, reading, fitting, cost pass).",
             "", "| data | k | scikit-learn | onepass | lloyd |", "|---|---|---|---|---|"]
    for row in rows:
        sk = row["sklearn"]
        sk_cell = f"{sk['cost']:.5g}, {sk['wall']:.1f} s, {counted(sk['iterations'], 'iteration', 'iterations')}" if sk else \
            "does not fit in memory"
        lines.append(f"| {row['data']} | {row['k']} | {sk_cell} | {cell(row['onepass'], sk)} | "
                     f"{cell(row['lloyd'], sk)} |")
    compared = [row for row in rows if row["sklearn"]]
    largest = max(row["data_rows"] for row in compared)
    lines += ["", "| target | measured | verdict |", "|---|---|---|"]
    for row in compared:
        ratio = row["onepass"]["cost"] / row["sklearn"]["cost"]
        lines.append(f"| onepass cost within 2% of scikit-learn's: {row['data']}, k = {row['k']} | {ratio:.4f} | "
                     f"{'met' if ratio <= 1.02 else '**missed**'} |")
    for row in compared:
        if row["data_rows"] != largest:
            continue
        speedup = row["sklearn"]["wall"] / row["onepass"]["wall"]
        lines.append(f"| onepass faster than scikit-learn at the largest size it can hold: k = {row['k']} | "
                     f"{speedup:.2f}x | {'met' if speedup > 1 else '**missed**'} |")
    lines += ["", "Larger than memory, scikit-learn cannot run at all; onepass reads the shards once and the cost "
              "pass once more. scikit-learn's times leave out loading the data into memory; ringtrain's include "
              "reading it.", "", f"Command (on {datetime.date.today()}): `bash scripts/bench-kmeans.sh`", "", END]
    section = "\n".join(lines) + "\n"
    replace_section(args.output, BEGIN, END, section)
    print(f"bench-kmeans: wrote the k-means section of {args.output}")


if __name__ == "__main__":
    main()
