"""Random command lines over small files, run through the real executable: every one must end
with exit 0, or with exit 2 and one line that names the mistake, never a C++ stack trace, another
exit status, a signal or a hang. test_command_line_fuzz.py runs a short seeded round of it;
scripts/fuzz-command-line.sh runs it for as long as asked."""
import gzip
import os
import random
import re
import subprocess

import numpy as np

from ringtrain_testing import command, run, write_csv

COMMANDS = ["train", "eval", "predict", "prep", "kmeans", "pca", "shard-plan", "pipeline-plan",
            "check-data", "bench-data"]
# Flags whose values would make a round slow rather than wrong.
SLOW = {"epochs": ["1", "2", "0", "-1", "x"], "max-steps": ["2", "0", "-3", "1e9x"],
        "size": ["10", "0", "-1", "1000", "x"], "world": ["1", "3", "0", "-2", "x"],
        "comm-timeout": ["5", "0", "-1", "x"], "checkpoint-every": ["1", "0", "-1", "x"],
        "samples": ["10", "0", "-1", "x"], "max-iterations": ["3", "0", "-1", "x"]}
# Flags left out: they run long or leave the machine (benchmarks of communication).
SKIP = {"help", "progress", "threads", "cold", "output-dir", "checkpoint-dir"}
# Flags that name a file a command writes: only names the workspace keeps no input under.
WRITES = {"output", "predictions", "json", "trace"}


def help_flags(cmd):
    """{flag: takes a value} from `ringtrain CMD --help`."""
    text = run([cmd, "--help"]).stdout
    flags = {}
    for match in re.finditer(r"^\s{1,8}(?:-\w, )?--([a-z0-9-]+)( [A-Z.]+)?", text, re.M):
        flags[match.group(1)] = match.group(2) is not None
    return flags


class Workspace:
    """Small files of every kind, good and bad, in `root`."""

    def __init__(self, root):
        self.root = root
        rng = np.random.default_rng(0)
        path = self.path
        features = rng.normal(size=(40, 3))
        labels = (features[:, 0] > 0).astype(int)
        write_csv(path("good.csv"), labels, features)
        write_csv(path("wide.csv"), labels, np.hstack([features, features]))
        with open(path("header.csv"), "w") as f:
            f.write("label,a,b,c\n")
        with open(path("header.csv"), "a") as f:
            for label, row in zip(labels, features):
                f.write(",".join([str(label)] + [repr(float(v)) for v in row]) + "\n")
        with open(path("ragged.csv"), "w") as f:
            f.write("0,1.0,2.0\n1,2.0\n")
        with open(path("text.csv"), "w") as f:
            f.write("0,1.0,nan\n1,inf,two\n")
        with open(path("empty.csv"), "w"):
            pass
        with open(path("good.csv"), "rb") as plain, gzip.open(path("good.csv.gz"), "wb") as packed:
            packed.write(plain.read())
        np.save(path("table.npy"), features.astype(np.float32))
        np.save(path("labels.npy"), labels.astype(np.int64))
        np.save(path("cube.npy"), rng.normal(size=(8, 2, 2, 2)).astype(np.float32))
        with open(path("corpus.txt"), "w") as f:
            f.write("the quick brown fox jumps over the lazy dog. " * 20)
        with open(path("junk.safetensors"), "wb") as f:
            f.write(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
        os.makedirs(path("empty_dir"), exist_ok=True)
        for name, args in (("shards", ["--data", path("good.csv")]),
                           ("tokens", ["--data", path("corpus.txt")])):
            result = run(["prep", "--output-dir", path(name), "--progress", "off"] + args)
            assert result.returncode == 0, result.stderr
        result = run(["train", "--train", path("good.csv"), "--epochs", "1", "--hidden", "4", "--output-dir",
                      path("run"), "--progress", "off", "--threads", "1"])
        assert result.returncode == 0, result.stderr
        result = run(["kmeans", "--data", path("good.csv"), "-k", "2", "--output-dir", path("km"), "--threads", "1"])
        assert result.returncode == 0, result.stderr
        self.values = [
            "", "0", "1", "2", "3", "-1", "7", "0.5", "1e-3", "nan", "inf", "-inf", "1e308", "999999999999",
            "abc", "auto", "none", "csv", "x,y", "1,2", "4,-4", ",", "explicit:1,1", "synthetic:50",
            "synthetic:50:3", "synthetic:0", "synthetic:5:3:1", "synthetic:x", "shards:" + path("shards"),
            "shards:" + path("tokens"), path("shards"), path("tokens"), path("good.csv"), "csv:" + path("good.csv"),
            path("wide.csv"), path("header.csv"), path("ragged.csv"), path("text.csv"), path("empty.csv"),
            path("good.csv.gz"), path("table.npy"), path("labels.npy"), path("cube.npy"), path("corpus.txt"),
            path("missing.csv"), path("empty_dir"), "idx:" + path("empty_dir"), path("junk.safetensors"),
            path("run", "model.safetensors"), path("km", "centres.safetensors"), path("run"),
            path("out.csv"), path("out.npy"), path("out.json"), path("out.txt"), "pipe:/dev/null",
        ]
        self.outputs = [path("out.csv"), path("out.npy"), path("out.json"), path("out.txt"), path("no", "out.csv"),
                        path("run"), ""]

    def path(self, *parts):
        return os.path.join(self.root, *parts)


def valid_base(cmd, workspace):
    """{flag: value or None} of a command line that works, for the mutations to start from, so that
    they reach past the flag checks into reading data and running models."""
    path = workspace.path
    return {
        "train": {"train": path("good.csv"), "hidden": "4", "max-steps": "3", "batch-size": "8"},
        "eval": {"model": path("run", "model.safetensors"), "data": path("good.csv")},
        "predict": {"model": path("run", "model.safetensors"), "data": path("good.csv"), "label-column": "0",
                    "output": path("out.csv")},
        "prep": {"data": path("good.csv")},
        "kmeans": {"data": path("good.csv"), "clusters": "2"},
        "pca": {"data": path("good.csv"), "components": "2"},
        "shard-plan": {"size": "10", "world": "2"},
        "pipeline-plan": {},
        "check-data": {},
        "bench-data": {"samples": "10"},
    }[cmd]


def random_command(rng, workspace, flags_of):
    cmd = rng.choice(COMMANDS)
    flags = flags_of[cmd]
    chosen = dict(valid_base(cmd, workspace)) if rng.random() < 0.7 else {}
    mutable = sorted(set(flags) - SKIP)
    for flag in rng.sample(mutable, k=min(len(mutable), rng.randint(1, 4))):
        values = workspace.outputs if flag in WRITES else SLOW.get(flag, workspace.values)
        chosen[flag] = rng.choice(values) if flags[flag] else None
    args = [cmd]
    for flag, value in chosen.items():
        args += ["--" + flag] + ([] if value is None else [value])
    # Where a command writes, a fresh place under the workspace, and runs kept short.
    if cmd in ("train", "kmeans", "pca"):
        args += ["--output-dir", workspace.path("outputs", str(rng.randrange(10 ** 9))), "--threads", "1"]
    if cmd == "train" and "epochs" not in chosen and "max-steps" not in chosen:
        args += ["--max-steps", "3"]
    if cmd == "prep":
        args += ["--output-dir", workspace.path("prepped", str(rng.randrange(10 ** 9)))]
    if cmd in ("prep", "check-data", "train"):
        args += ["--progress", "off"]
    if cmd in ("check-data", "bench-data"):
        args.append(rng.choice([workspace.path("shards"), workspace.path("tokens"), workspace.path("empty_dir"),
                                workspace.path("good.csv"), workspace.path("missing")]))
    return args


def verdict(args, cwd, timeout=60):
    """None when the run ended as it should, else what went wrong."""
    try:
        result = subprocess.run(command(args), capture_output=True, text=True, errors="replace",
                                timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        return f"no end within {timeout} s"
    if result.returncode not in (0, 2):
        return f"exit {result.returncode}: {result.stderr.strip()[-600:]}"
    if re.search(r"frame #\d|Exception raised from|terminate called|Traceback", result.stderr):
        return f"a stack trace: {result.stderr.strip()[-600:]}"
    errors = [line for line in result.stderr.splitlines() if " error: " in line]
    if result.returncode == 2 and len(errors) != 1:
        return f"exit 2 with {len(errors)} error lines: {result.stderr.strip()[-300:]}"
    return None


def fuzz(root, seed, rounds, report=print):
    """Runs `rounds` random command lines; returns [(args, problem)]."""
    workspace = Workspace(root)
    flags_of = {cmd: help_flags(cmd) for cmd in COMMANDS}
    rng = random.Random(seed)
    problems = []
    for _ in range(rounds):
        args = random_command(rng, workspace, flags_of)
        problem = verdict(args, root)
        if problem:
            problems.append((args, problem))
            report(f"{' '.join(args)}\n  -> {problem}")
    return problems
