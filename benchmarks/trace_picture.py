"""Draws a trace that `ringtrain train --trace` wrote (the Chrome trace event format) as a PNG: one
band per rank, its steps and phases on the top row and its communication calls below, as Perfetto
lays them out. For the docs' picture; Perfetto or chrome://tracing open the file itself.

    python3 benchmarks/trace_picture.py TRACE.json PICTURE.png [--title TEXT]"""
import argparse
import json

PHASE_COLOURS = {
    "waiting for data": "#bdbdbd", "forward": "#4c72b0", "backward": "#dd8452", "optimizer step": "#55a868",
    "checkpoint": "#8172b3", "evaluation": "#937860", "finishing": "#da8bc3", "starting": "#8c8c8c",
}
CALL_COLOUR = "#c44e52"


def read_trace(path):
    with open(path) as f:
        trace = json.load(f)
    names, threads, tracks, slices = {}, {}, {}, []
    for event in trace["traceEvents"]:
        if event["ph"] == "M" and event["name"] == "process_name":
            names[event["pid"]] = event["args"]["name"]
        elif event["ph"] == "M" and event["name"] == "thread_name":
            threads[event["pid"], event["tid"]] = event["args"]["name"]
        elif event["ph"] == "X":
            slices.append(event)
            tracks.setdefault(event["pid"], set()).add(event["tid"])
    return trace, names, threads, tracks, slices


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace")
    parser.add_argument("picture")
    parser.add_argument("--title", default=None)
    args = parser.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    trace, names, threads, tracks, slices = read_trace(args.trace)
    # Rows from the top: each rank's tracks in order, a gap between ranks.
    rows, labels, y = {}, [], 0
    for pid in sorted(tracks):
        for tid in sorted(tracks[pid]):
            rows[pid, tid] = y
            thread = threads.get((pid, tid), "")
            # A rank's steps-and-phases track carries its name; the others, theirs.
            labels.append((y, names.get(pid, f"process {pid}") if thread == "steps and phases" else thread))
            y += 1
        y += 0.6
    fig, ax = plt.subplots(figsize=(13, 0.55 * y + 1.6))
    for event in slices:
        row = rows[event["pid"], event["tid"]]
        start, width = event["ts"] / 1e3, event["dur"] / 1e3  # milliseconds
        if event["cat"] == "step":
            ax.broken_barh([(start, width)], (row - 0.45, 0.9), facecolors="none", edgecolors="black",
                           linewidth=1.2)
            ax.text(start + width / 2, row - 0.5, event["name"], ha="center", va="bottom", fontsize=8)
        elif event["cat"] == "phase":
            ax.broken_barh([(start, width)], (row - 0.35, 0.7),
                           facecolors=PHASE_COLOURS.get(event["name"], "#cccccc"))
        else:
            ax.broken_barh([(start, width)], (row - 0.35, 0.7), facecolors=CALL_COLOUR, edgecolors="white",
                           linewidth=0.4)
            if "bucket" in event["args"]:
                ax.text(start + width / 2, row, str(event["args"]["bucket"]), ha="center", va="center",
                        fontsize=6, color="white")
    ax.set_yticks([row for row, _ in labels])
    ax.set_yticklabels([label for _, label in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds")
    steps = trace.get("otherData", {}).get("ringtrain", {}).get("steps")
    ax.set_title(args.title or (f"ringtrain --trace: steps {steps[0]}-{steps[1]}" if steps else "ringtrain --trace"),
                 fontsize=10)
    used = {event["name"] for event in slices if event["cat"] == "phase"}
    legend = [Patch(facecolor=colour, label=name) for name, colour in PHASE_COLOURS.items() if name in used]
    legend.append(Patch(facecolor=CALL_COLOUR, label="communication call (number: bucket)"))
    ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(legend), fontsize=8,
              frameon=False)
    fig.tight_layout()
    fig.savefig(args.picture, dpi=110)


if __name__ == "__main__":
    main()
