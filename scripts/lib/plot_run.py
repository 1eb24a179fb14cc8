"""Draws a run's metrics.jsonl as a PNG: training and validation loss, validation accuracy, the
learning rate, and throughput (tokens per second for token data, samples per second otherwise),
each against the step.

    python3 scripts/lib/plot_run.py RUN_DIR [PICTURE.png] [--title TEXT]   (default: RUN_DIR/run.png)"""
import argparse
import json
import os


def read_metrics(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        raise SystemExit(f"plot-run: {path} does not exist: RUN_DIR is a run's directory (runs/latest)")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def series(records, key):
    points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and "step" in r]
    return [p[0] for p in points], [p[1] for p in points]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("picture", nargs="?")
    parser.add_argument("--title", help="above the panels (default: the run directory's name)")
    args = parser.parse_args()
    records = read_metrics(args.run_dir)
    picture = args.picture or os.path.join(args.run_dir, "run.png")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    throughput = "tokens_per_sec" if any("tokens_per_sec" in r for r in records) else "samples_per_sec"
    panels = [("loss", [("loss", "training"), ("val_loss", "validation")]),
              ("validation accuracy", [("val_accuracy", None)]),
              ("learning rate", [("lr", None)]),
              (throughput.replace("_per_sec", " per second"), [(throughput, None)])]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    for ax, (title, keys) in zip(axes.flat, panels):
        drawn = False
        for key, label in keys:
            steps, values = series(records, key)
            if steps:
                ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=label)
                drawn = True
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, "not in metrics.jsonl", ha="center", va="center", transform=ax.transAxes)
        elif any(label for _, label in keys):
            ax.legend(fontsize=8)
    fig.suptitle(args.title or os.path.basename(os.path.abspath(args.run_dir)), fontsize=11)
    fig.tight_layout()
    fig.savefig(picture, dpi=100)
    print(picture)


if __name__ == "__main__":
    main()
