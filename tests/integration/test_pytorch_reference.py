"""A few optimizer steps of ringtrain against the same steps in PyTorch: forward, loss, gradients,
gradient averaging across ranks, SGD/AdamW, warmup + schedule, clipping, and evaluation."""
import math
import unittest

import numpy as np
import torch
from safetensors.torch import save_file

from ringtrain_testing import RingtrainTestCase, write_csv

SAMPLES, FEATURES, CLASSES, HIDDEN = 96, 6, 3, [10, 7]


def reference_model(init):
    layers, width = [], FEATURES
    for size in HIDDEN:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    layers.append(torch.nn.Linear(width, CLASSES))
    model = torch.nn.Sequential(*layers)
    names = [f"hidden.{i}" for i in range(len(HIDDEN))] + ["output"]
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for name, linear in zip(names, linears):
            linear.weight.copy_(init[f"{name}.weight"])
            linear.bias.copy_(init[f"{name}.bias"])
    # The model file names the MLP's tensors as its equivalent spec does: Flatten, then a Linear
    # and a ReLU per hidden layer, then the output Linear (layers 1, 3, 5).
    stored = [str(2 * i + 1) for i in range(len(linears))]
    return model, {f"{n}.{p}": getattr(l, p) for n, l in zip(stored, linears) for p in ("weight", "bias")}


class MatchesPyTorch(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        generator = torch.Generator().manual_seed(3)
        self.x = torch.randn(SAMPLES, FEATURES, generator=generator)
        self.y = torch.randint(0, CLASSES, (SAMPLES,), generator=generator)
        self.y[:CLASSES] = torch.arange(CLASSES)  # every class present
        write_csv(self.path("data.csv"), self.y.tolist(), self.x.tolist())
        init = {}
        width = FEATURES
        for i, size in enumerate(HIDDEN + [CLASSES]):
            name = f"hidden.{i}" if i < len(HIDDEN) else "output"
            init[f"{name}.weight"] = torch.randn(size, width, generator=generator) * 0.5
            init[f"{name}.bias"] = torch.randn(size, generator=generator) * 0.1
            width = size
        save_file(init, self.path("init.safetensors"))
        self.init = init

    def check(self, ranks, steps, global_batch, flags, make_optimizer, lr_at, clip=0.0):
        args = ["--train", self.path("data.csv"), "--val", self.path("data.csv"), "--normalize", "none",
                "--hidden", ",".join(map(str, HIDDEN)), "--init-from", self.path("init.safetensors"),
                "--no-shuffle", "--batch-size", global_batch // ranks, "--max-steps", steps] + flags
        out = self.train(f"np{ranks}", args, ranks=ranks)

        model, params = reference_model(self.init)
        optimizer = make_optimizer(list(params.values()))
        for step in range(steps):
            # Without shuffling, rank r reads r, r + W, ...: the ranks of one step together read
            # one contiguous global batch.
            rows = slice(step * global_batch, (step + 1) * global_batch)
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(self.x[rows]), self.y[rows]).backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(list(params.values()), clip)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            optimizer.step()

        trained = self.model(out)
        for name, value in params.items():
            np.testing.assert_allclose(trained[name], value.detach().numpy(), rtol=1e-4, atol=1e-6,
                                       err_msg=name)
        with torch.no_grad():
            logits = model(self.x)
            accuracy = (logits.argmax(1) == self.y).double().mean().item()
            loss = torch.nn.functional.cross_entropy(logits, self.y).item()
        summary = self.summary(out)
        self.assertAlmostEqual(summary["val_accuracy"], accuracy, places=9)
        self.assertAlmostEqual(summary["val_loss"], loss, places=5)

    def test_sgd_with_momentum_nesterov_and_weight_decay(self):
        for ranks in (1, 2, 3):
            with self.subTest(ranks=ranks):
                self.check(ranks, steps=4, global_batch=24,
                           flags=["--lr", "0.1", "--momentum", "0.8", "--nesterov", "--weight-decay", "0.01"],
                           make_optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True,
                                                                    weight_decay=0.01),
                           lr_at=lambda step: 0.1)

    def test_adamw_with_warmup_cosine_and_clipping(self):
        total, warmup, base = 4, 2, 0.02

        def lr_at(step):
            if step < warmup:
                return base * (step + 1) / warmup
            return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))

        self.check(2, steps=total, global_batch=24,
                   flags=["--optimizer", "adamw", "--lr", str(base), "--weight-decay", "0.05",
                          "--warmup-steps", str(warmup), "--lr-schedule", "cosine", "--clip-grad-norm", "0.5"],
                   make_optimizer=lambda p: torch.optim.AdamW(p, lr=base, weight_decay=0.05),
                   lr_at=lr_at, clip=0.5)

    def test_scale_lr_multiplies_by_world_size(self):
        self.check(2, steps=3, global_batch=24, flags=["--lr", "0.05", "--momentum", "0", "--scale-lr"],
                   make_optimizer=lambda p: torch.optim.SGD(p, lr=0.1), lr_at=lambda step: 0.1)


if __name__ == "__main__":
    unittest.main()
