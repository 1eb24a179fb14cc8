"""Language-model objective benchmark: the same GPT-style network trained on the same windows with
the same compute, once with a loss at every position (a causal LM, as --model gpt trains) and once
at the last position only (the spec ending in SelectToken, which is how ringtrain trained a GPT
before). Both are scored on held-out text: bits per byte of the token after each window (what both
models predict), and the every-position model's bits per byte over all positions. Rewrites the
language-model section of docs/BENCHMARKS.md and draws docs/bench-lm.png. Run through
scripts/bench-lm.sh."""
import argparse
import datetime
import glob
import json
import math
import os
import subprocess

import numpy as np

from benchmarks_doc import replace_section

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BEGIN = "## Language models: every position against the last (`scripts/bench-lm.sh`)"
END = "<!-- end of the language-model section -->"
# Plain English every Debian system has (the base-files package), each text once.
CORPUS_GLOB = "/usr/share/common-licenses/*"


def corpus(work):
    texts = sorted({os.path.realpath(path) for path in glob.glob(CORPUS_GLOB) if os.path.isfile(path)})
    data = b"".join(open(path, "rb").read() for path in texts)
    cut = int(len(data) * 0.9)
    paths = {}
    for name, part in (("train", data[:cut]), ("val", data[cut:])):
        paths[name] = os.path.join(work, name + ".txt")
        with open(paths[name], "wb") as f:
            f.write(part)
    return paths, texts, len(data)


def network(args, last_only):
    layers = [{"type": "Embedding", "num_embeddings": 256, "embedding_dim": args.width},
              {"type": "PositionalEmbedding", "num_positions": args.context}]
    layers += [{"type": "TransformerBlock", "heads": args.heads}] * args.layers
    layers.append({"type": "LayerNorm"})
    if last_only:
        layers.append({"type": "SelectToken"})
    layers.append({"type": "Linear", "out_features": 256})
    return layers


def run(command, commands):
    commands.append(" ".join(command))
    return subprocess.run(command, check=True, capture_output=True, text=True)


def last_position_bits(args, model, val_dir, val_bytes, work, commands):
    """Bits per byte of the token after each validation window, from `ringtrain eval --predictions`."""
    predictions = os.path.join(work, "predictions.npy")
    run([args.ringtrain, "eval", "--model", model, "--data", val_dir, "--predictions", predictions], commands)
    logits = np.load(predictions).astype(np.float64)
    count = logits.shape[0]
    targets = np.array([val_bytes[i * args.context + args.context] for i in range(count)])
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(count), targets].mean() / math.log(2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ringtrain", required=True)
    parser.add_argument("--work", default="/var/tmp/ringtrain-bench-lm")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="per rank")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--steps", default="50,100,200,400,800")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    commands = []
    paths, texts, size = corpus(args.work)
    data = {}
    for name, path in paths.items():
        data[name] = os.path.join(args.work, name)
        run([args.ringtrain, "prep", "--input", path, "--output", data[name], "--format", "text", "--progress", "off",
             "--overwrite"], commands)
    val_bytes = open(paths["val"], "rb").read()
    revision = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()

    rows = []
    for steps in [int(s) for s in args.steps.split(",")]:
        row = {"steps": steps}
        for objective, last_only in (("every", False), ("last", True)):
            spec = os.path.join(args.work, f"{objective}.json")
            with open(spec, "w") as f:
                json.dump(network(args, last_only), f)
            out = os.path.join(args.work, f"{objective}-{steps}")
            run(["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(args.ranks), args.ringtrain, "train",
                 "--train", data["train"], "--val", data["val"], "--model-spec", spec, "--context", str(args.context),
                 "--optimizer", "adamw", "--lr", str(args.lr), "--batch-size", str(args.batch_size),
                 "--max-steps", str(steps), "--epochs", "1000", "--seed", "1", "--threads", str(args.threads),
                 "--log-every", "1000", "--progress", "off", "--resume", "none", "--output-dir", out], commands)
            with open(os.path.join(out, "summary.json")) as f:
                summary = json.load(f)
            row[objective] = {
                "own_bits": summary["val_bits_per_token"],
                "after_window_bits": last_position_bits(args, os.path.join(out, "model.safetensors"), data["val"],
                                                        val_bytes, args.work, commands),
                "step_ms": 1000 * summary["training_seconds"] / summary["steps"],
                "tokens_per_sec": summary["tokens_per_sec"],
            }
        rows.append(row)
        print(f"bench-lm: {steps} steps: every position {row['every']['after_window_bits']:.3f} bits/byte after "
              f"the window ({row['every']['own_bits']:.3f} over all positions), last position "
              f"{row['last']['after_window_bits']:.3f}", flush=True)

    windows = (len(open(paths["train"], "rb").read()) - 1) // args.context
    global_batch = args.batch_size * args.ranks
    lines = [BEGIN, "",
             f"Measured {datetime.date.today()} on this machine (2 cores), ringtrain {revision}, one run per point. "
             f"The corpus is the licence texts of Debian's base-files package ({len(texts)} files, {size} bytes; the "
             f"first 90% trains, the last 10% validates), byte tokens. The network is the same for both objectives: "
             f"{args.layers} transformer blocks of width {args.width} with {args.heads} heads, context "
             f"{args.context}; AdamW at lr {args.lr}, {args.ranks} ranks x batch {args.batch_size} "
             f"({global_batch} windows a step; an epoch is {windows} windows, {windows // global_batch} steps), "
             "seed 1, the same windows in the same order. *Every position* takes the loss at each of the "
             f"{args.context} positions of a window (`--model gpt`, or this spec); *last position* ends the spec "
             "with `SelectToken`, one target per window, as ringtrain trained GPTs before. Validation: bits per byte "
             "of the byte after each held-out window, which both models predict (from `ringtrain eval "
             "--predictions`), and the every-position model's own `val_bits_per_token` over all positions.", "",
             "| steps | every position: bits/byte after the window | last position: bits/byte after the window | "
             "every position: bits/byte, all positions | step (ms), every / last |",
             "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['steps']} | {row['every']['after_window_bits']:.3f} | "
                     f"{row['last']['after_window_bits']:.3f} | {row['every']['own_bits']:.3f} | "
                     f"{row['every']['step_ms']:.1f} / {row['last']['step_ms']:.1f} |")
    final = rows[-1]
    lines += ["", f"After {final['steps']} steps the every-position model predicts the byte after a window with "
              f"{final['every']['after_window_bits']:.3f} bits against {final['last']['after_window_bits']:.3f} for "
              f"the last-position model, from the same windows and steps; the step times in the table are within "
              "this shared machine's noise of each other (the every-position model applies its head to every "
              "position, a small share of the step at this width).", "",
              "![validation bits per byte against steps](bench-lm.png)", "", "Commands, in order:", "", "```"]
    lines += commands + ["```", "", END, ""]
    replace_section(args.output, BEGIN, END, "\n".join(lines))
    plot(rows, os.path.join(os.path.dirname(args.output), "bench-lm.png"))
    print(f"bench-lm: wrote {args.output}")


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4.5))
    steps = [row["steps"] for row in rows]
    axes.plot(steps, [row["every"]["after_window_bits"] for row in rows], marker="o",
              label="every position: byte after the window")
    axes.plot(steps, [row["last"]["after_window_bits"] for row in rows], marker="o",
              label="last position: byte after the window")
    axes.plot(steps, [row["every"]["own_bits"] for row in rows], marker="o", linestyle="--",
              label="every position: all positions")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("optimizer steps")
    axes.set_ylabel("validation bits per byte")
    axes.set_title("Same network, same windows: loss at every position vs the last")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
