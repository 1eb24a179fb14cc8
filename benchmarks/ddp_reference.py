"""PyTorch DDP (gloo) doing the same work as `ringtrain train`, for scripts/bench.sh.

The same models (ringtrain's MLP and CNN, layer for layer), the same optimizer (SGD, momentum 0.9),
the same per-rank batch, an in-memory data set indexed per step like ringtrain's, one process per
rank started by mpirun, and the same thread count. Prints one JSON line on rank 0:
samples_per_sec, step_ms, training_seconds and peak_rss_mib (largest over ranks).
"""
import argparse
import json
import os
import resource
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel


class Dense(nn.Module):
    def __init__(self, inputs, hidden, classes):
        super().__init__()
        self.hidden = nn.ModuleList()
        for width in hidden:
            self.hidden.append(nn.Linear(inputs, width))
            inputs = width
        self.output = nn.Linear(inputs, classes)

    def forward(self, x):
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.output(x)


class Mlp(nn.Module):
    def __init__(self, inputs, hidden, classes):
        super().__init__()
        self.dense = Dense(inputs, hidden, classes)

    def forward(self, x):
        return self.dense(x.flatten(1))


class Cnn(nn.Module):
    def __init__(self, channels, hidden, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.dense = Dense(32 * 4 * 4, hidden, classes)

    def forward(self, x):
        y = F.relu(self.conv1(x))
        if y.shape[2] >= 2 and y.shape[3] >= 2:
            y = F.max_pool2d(y, 2)
        y = F.relu(self.conv2(y))
        y = F.adaptive_avg_pool2d(y, 4)
        return self.dense(y.flatten(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--inputs", type=int, default=64, help="features (mlp) or image side (cnn)")
    parser.add_argument("--hidden", default="128")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=32, help="per rank")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--port", type=int, default=29517)
    args = parser.parse_args()

    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0))
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(args.port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(args.threads)

    torch.manual_seed(42)
    hidden = [int(w) for w in args.hidden.split(",")]
    if args.model == "mlp":
        model = Mlp(args.inputs, hidden, args.classes)
        features = torch.randn(args.samples, args.inputs)
    else:
        model = Cnn(1, hidden, args.classes)
        features = torch.rand(args.samples, 1, args.inputs, args.inputs)
    labels = torch.randint(args.classes, (args.samples,))
    # DDP's recommended settings for memory: gradients as views into its buckets.
    ddp = DistributedDataParallel(model, gradient_as_bucket_view=True)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9)

    generator = torch.Generator().manual_seed(42)
    order = torch.randperm(args.samples, generator=generator)[rank::world]
    per_epoch = len(order) // args.batch_size
    running = torch.zeros(())
    dist.barrier()
    start = time.perf_counter()
    for step in range(args.steps):
        first = (step % per_epoch) * args.batch_size
        rows = order[first:first + args.batch_size]
        loss = F.cross_entropy(ddp(features[rows]), labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.detach()
    seconds = time.perf_counter() - start

    peak = torch.tensor([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, seconds],
                        dtype=torch.float64)
    dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    if rank == 0:
        slowest = peak[1].item()
        print(json.dumps({"samples_per_sec": args.steps * args.batch_size * world / slowest,
                          "step_ms": slowest / args.steps * 1000,
                          "training_seconds": slowest,
                          "peak_rss_mib": peak[0].item(),
                          "final_loss": float(running) / args.steps}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
