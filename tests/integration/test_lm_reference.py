"""Language models against PyTorch: a causal LM's loss at every position of a token window, as
nanoGPT and llm.c take it, F.cross_entropy(logits.view(-1, V), targets.view(-1)), step by step at
1 and 2 ranks and in a pipeline, from the same weights built by tools/spec_to_torch.py; the
last-position objective of a spec ending in SelectToken; --model gpt, initialised from a file of
its own tensor names and writing one of its equivalent spec's; the reported perplexity, bits per
token and tokens per second; `ringtrain eval`, `predict` and `generate` (greedy decoding equal to
PyTorch's); and exact resumption."""
import json
import math
import os
import subprocess
import sys
import unittest

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ringtrain_testing import RingtrainTestCase, command, run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from spec_to_torch import build, load_model  # noqa: E402

CONTEXT, WIDTH, HEADS, LAYERS, VOCABULARY = 16, 16, 2, 2, 256
STEPS, GLOBAL_BATCH, LR = 3, 8, 0.5
# Barely trained: random weights predict varied text, which tells windows and positions apart
# (after a few steps at LR the model predicts spaces everywhere).
GENERATE_LR = 1e-6


def network(select_last=False):
    layers = [{"type": "Embedding", "num_embeddings": VOCABULARY, "embedding_dim": WIDTH},
              {"type": "PositionalEmbedding", "num_positions": CONTEXT}]
    layers += [{"type": "TransformerBlock", "heads": HEADS, "mlp_width": 4 * WIDTH, "causal": True}] * LAYERS
    layers.append({"type": "LayerNorm", "normalized_shape": [WIDTH]})
    if select_last:
        layers.append({"type": "SelectToken", "index": CONTEXT - 1})
    layers.append({"type": "Linear", "out_features": VOCABULARY})
    return layers


def gpt_name(name):
    """The spec's tensor name of a layer -> --model gpt's own (which --init-from files may use)."""
    index, rest = name.split(".", 1)
    index = int(index)
    if index == 0:
        return "embedding.tokens." + rest
    if index == 1:
        return "embedding.positions." + rest
    if index < 2 + LAYERS:
        return f"blocks.{index - 2}.{rest}"
    return ("head.norm." if index == 2 + LAYERS else "head.output.") + rest


def text(seed, words):
    rng = np.random.default_rng(seed)
    vocabulary = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away", "home"]
    return " ".join(vocabulary[i] for i in rng.integers(0, len(vocabulary), size=words)) + "."


def windows(tokens):
    """Window i is tokens[iT : iT + T + 1]: the input is its first T, the targets its last T."""
    count = (len(tokens) - 1) // CONTEXT
    rows = torch.stack([tokens[i * CONTEXT: i * CONTEXT + CONTEXT + 1] for i in range(count)])
    return rows[:, :-1], rows[:, 1:]


def run_bytes(args):
    """The command's output as bytes: generated text need not be UTF-8."""
    return subprocess.run(command(args), capture_output=True, timeout=180)


def metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


class LanguageModelMatchesPyTorch(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        for name, seed, words in (("train", 1, 600), ("val", 2, 120)):
            with open(self.path(name + ".txt"), "w") as f:
                f.write(text(seed, words))
            prep = run(["prep", "--input", self.path(name + ".txt"), "--output", self.path(name)])
            self.assertEqual(prep.returncode, 0, prep.stderr)
        self.train_x, self.train_y = windows(self.bytes_of("train.txt"))
        self.val_x, self.val_y = windows(self.bytes_of("val.txt"))

    def bytes_of(self, name):
        with open(self.path(name), "rb") as f:
            return torch.tensor(list(f.read()))

    def initial(self, layers, name):
        torch.manual_seed(7)
        model = build(layers, [CONTEXT])
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, self.path(name))
        return model

    def reference(self, model, last_only=False):
        """STEPS of SGD in PyTorch over the windows in order; the loss of each step."""
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        losses = []
        model.train()
        for step in range(STEPS):
            rows = slice(step * GLOBAL_BATCH, (step + 1) * GLOBAL_BATCH)
            logits = model(self.train_x[rows].float())
            if last_only:
                loss = F.cross_entropy(logits, self.train_y[rows][:, -1])
            else:
                loss = F.cross_entropy(logits.view(-1, VOCABULARY), self.train_y[rows].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    def ringtrain(self, name, model_flags, ranks, extra=(), replicas=None, lr=LR):
        args = model_flags + ["--train", self.path("train"), "--val", self.path("val"), "--context", str(CONTEXT),
                              "--no-shuffle", "--optimizer", "sgd", "--lr", str(lr), "--momentum", "0",
                              "--weight-decay", "0", "--max-steps", str(STEPS), "--log-every", "1",
                              "--batch-size", str(GLOBAL_BATCH // (replicas or ranks))] + list(extra)
        return self.train(name, args, ranks=ranks)

    def assertMatches(self, out, model, losses, last_only=False, rename=lambda name: name):
        steps = [record for record in metrics(out) if "loss" in record]
        self.assertEqual([record["step"] for record in steps], list(range(1, STEPS + 1)))
        np.testing.assert_allclose([record["loss"] for record in steps], losses, rtol=1e-5)
        trained = self.model(out)
        for name, value in model.state_dict().items():
            np.testing.assert_allclose(trained[rename(name)], value.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
        model.eval()
        with torch.no_grad():
            logits = model(self.val_x.float())
            targets = self.val_y[:, -1] if last_only else self.val_y
            loss = F.cross_entropy(logits.reshape(-1, VOCABULARY), targets.reshape(-1)).item()
            accuracy = (logits.argmax(-1) == targets).double().mean().item()
        summary = self.summary(out)
        self.assertAlmostEqual(summary["val_loss"], loss, places=5)
        self.assertAlmostEqual(summary["val_accuracy"], accuracy, places=9)
        self.assertAlmostEqual(summary["val_perplexity"], math.exp(summary["val_loss"]), places=9)
        self.assertAlmostEqual(summary["val_bits_per_token"], summary["val_loss"] / math.log(2), places=9)
        return summary

    def test_every_position_at_one_and_two_ranks_and_in_a_pipeline(self):
        layers = network()
        with open(self.path("lm.json"), "w") as f:
            json.dump(layers, f)
        model = self.initial(layers, "init.safetensors")
        losses = self.reference(model)
        flags = ["--model-spec", self.path("lm.json"), "--init-from", self.path("init.safetensors")]
        # A pipeline of two stages is one replica: it reads the whole global batch.
        for ranks, replicas, extra in ((1, 1, []), (2, 2, []),
                                       (2, 1, ["--pipeline-stages", "2", "--micro-batches", "2"])):
            with self.subTest(ranks=ranks, extra=extra):
                out = self.ringtrain(f"np{ranks}{len(extra)}", flags, ranks, extra, replicas)
                summary = self.assertMatches(out, model, losses)
                # Tokens per second count the windows' input tokens.
                self.assertAlmostEqual(summary["tokens_per_sec"], summary["samples_per_sec"] * CONTEXT,
                                       delta=1e-6 * summary["tokens_per_sec"])
                for record in metrics(out):
                    if "samples_per_sec" in record:
                        self.assertAlmostEqual(record["tokens_per_sec"], record["samples_per_sec"] * CONTEXT,
                                               delta=1e-6 * record["tokens_per_sec"])
                    if "val_loss" in record:
                        self.assertAlmostEqual(record["val_bits_per_token"], record["val_loss"] / math.log(2))

    def test_select_token_keeps_the_last_position_objective(self):
        layers = network(select_last=True)
        with open(self.path("last.json"), "w") as f:
            json.dump(layers, f)
        losses = self.reference(self.initial(layers, "init.safetensors"), last_only=True)
        out = self.ringtrain("last", ["--model-spec", self.path("last.json"), "--init-from",
                                      self.path("init.safetensors")], 2)
        model = self.initial(layers, "again.safetensors")
        self.reference(model, last_only=True)
        self.assertMatches(out, model, losses, last_only=True)

    def test_model_gpt_is_the_same_network_and_its_file_the_specs(self):
        layers = network()
        model = self.initial(layers, "spec.safetensors")
        save_file({gpt_name(k): v.contiguous() for k, v in model.state_dict().items()}, self.path("gpt.safetensors"))
        losses = self.reference(model)
        out = self.ringtrain("gpt", ["--model", "gpt", "--layers", str(LAYERS), "--width", str(WIDTH),
                                     "--heads", str(HEADS), "--init-from", self.path("gpt.safetensors")], 2)
        # Initialised from a file of its own tensor names; its model file uses the spec's.
        self.assertMatches(out, model, losses)
        # ringtrain eval scores the validation windows as training did.
        scores = self.path("scores.json")
        result = run(["eval", "--model", os.path.join(out, "model.safetensors"), "--data", self.path("val"),
                      "--output", scores])
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(scores) as f:
            scores = json.load(f)
        summary = self.summary(out)
        self.assertEqual(scores["samples"], len(self.val_x))
        self.assertEqual(scores["tokens"], self.val_y.numel())
        self.assertAlmostEqual(scores["loss"], summary["val_loss"], places=5)
        self.assertAlmostEqual(scores["accuracy"], summary["val_accuracy"], places=9)
        self.assertAlmostEqual(scores["perplexity"], math.exp(scores["loss"]), places=9)
        self.assertAlmostEqual(scores["bits_per_token"], scores["loss"] / math.log(2), places=9)
        self.assertIn("bits_per_token=", result.stdout)
        # One row per window: the prediction of the token after it, from the last position.
        predictions = self.path("predictions.npy")
        result = run(["eval", "--model", os.path.join(out, "model.safetensors"), "--data", self.path("val"),
                      "--predictions", predictions])
        self.assertEqual(result.returncode, 0, result.stderr)
        with torch.no_grad():
            expected = model(self.val_x.float())[:, -1]
        np.testing.assert_allclose(np.load(predictions), expected.numpy(), rtol=1e-4, atol=1e-5)
        loaded, _ = load_model(os.path.join(out, "model.safetensors"))
        with torch.no_grad():
            np.testing.assert_allclose(np.load(predictions), loaded(self.val_x.float())[:, -1].numpy(),
                                       rtol=1e-4, atol=1e-5)
        result = run(["predict", "--model", os.path.join(out, "model.safetensors"), "--data", self.path("val"),
                      "--output", self.path("next.npy")])
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = np.load(self.path("next.npy"))
        np.testing.assert_array_equal(rows[:, 0], expected.argmax(1).numpy())
        np.testing.assert_allclose(rows[:, 1:], torch.softmax(expected, 1).numpy(), rtol=1e-4, atol=1e-6)

    def test_generate_equals_pytorchs_greedy_decoding(self):
        runs = []
        for name, layers in (("spec", network()), ("last", network(select_last=True))):
            with open(self.path(name + ".json"), "w") as f:
                json.dump(layers, f)
            self.initial(layers, name + "-init.safetensors")
            out = self.ringtrain(name, ["--model-spec", self.path(name + ".json"), "--init-from",
                                        self.path(name + "-init.safetensors")], 2, lr=GENERATE_LR)
            runs.append((out, layers, lambda key: key))
        model = self.initial(network(), "spec.safetensors")
        save_file({gpt_name(k): v.contiguous() for k, v in model.state_dict().items()}, self.path("gpt.safetensors"))
        runs.append((self.ringtrain("gpt", ["--model", "gpt", "--layers", str(LAYERS), "--width", str(WIDTH),
                                            "--heads", str(HEADS), "--init-from", self.path("gpt.safetensors")], 2,
                                    lr=GENERATE_LR),
                     network(), lambda key: key))
        # A window of the model's context, sliding past it; a model of the last position only
        # reads whole windows, so its prompt fills one.
        count = 3 * CONTEXT
        for out, layers, rename in runs:
            prompt = "the cat sat on the mat" if layers[-2]["type"] == "SelectToken" else "the cat sat"
            with self.subTest(out=out):
                trained = self.model(out)
                reference = build(layers, [CONTEXT])
                reference.load_state_dict({name: torch.as_tensor(trained[rename(name)])
                                           for name in reference.state_dict()})
                reference.eval()

                def greedy(width, position):
                    tokens = list(prompt.encode())
                    with torch.no_grad():
                        for _ in range(count):
                            logits = reference(torch.tensor([tokens[-width:]], dtype=torch.float32))
                            tokens.append(int((logits[0, position] if logits.dim() == 3 else logits[0]).argmax()))
                    return bytes(tokens) + b"\n"

                expected = greedy(CONTEXT, -1)
                result = run_bytes(["generate", "--model", os.path.join(out, "model.safetensors"), "--prompt",
                                    prompt, "--max-tokens", str(count), "--temperature", "0"])
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(result.stdout, expected)
                # The comparison can tell a window one token short, or the wrong position.
                if layers[-2]["type"] != "SelectToken":
                    self.assertNotEqual(greedy(CONTEXT - 1, -1), expected)
                    self.assertNotEqual(greedy(CONTEXT, 0), expected)
        # Sampling repeats for a seed.
        spec_model = os.path.join(runs[0][0], "model.safetensors")
        sample = ["generate", "--model", spec_model, "--prompt", "the cat", "--max-tokens", "40", "--seed", "5"]
        first, again = run_bytes(sample), run_bytes(sample)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(first.stdout, again.stdout)
        self.assertTrue(first.stdout.startswith(b"the cat"))
        self.assertEqual(len(first.stdout), len("the cat") + 40 + 1)
        # What generate cannot use is refused before it writes anything.
        short = run_bytes(["generate", "--model", os.path.join(runs[1][0], "model.safetensors"), "--prompt", "the"])
        self.assertEqual(short.returncode, 2)
        self.assertIn(b"give a --prompt of at least 16 tokens", short.stderr)
        self.assertEqual(short.stdout, b"")
        mlp = self.train("mlp", ["--train", "synthetic:300:16:256", "--max-steps", "1", "--num-classes", "256"])
        refused = run_bytes(["generate", "--model", os.path.join(mlp, "model.safetensors"), "--prompt", "the"])
        self.assertEqual(refused.returncode, 2)
        self.assertIn(b"is not a language model over byte tokens", refused.stderr)
        self.assertEqual(refused.stdout, b"")

    def test_resuming_a_language_model_gives_the_uninterrupted_model(self):
        flags = ["--model", "gpt", "--layers", "1", "--width", "16", "--heads", "2", "--train", self.path("train"),
                 "--val", self.path("val"), "--context", str(CONTEXT), "--batch-size", "4", "--lr", "0.01",
                 "--optimizer", "adamw", "--epochs", "2", "--log-every", "1000"]
        whole = self.train("whole", flags, ranks=2)
        self.train("stopped", flags + ["--max-steps", "7", "--checkpoint-every", "7"], ranks=2)
        self.train("stopped", flags, ranks=2)
        stopped = self.path("stopped")
        self.assertEqual(self.summary(stopped)["resumed_at_step"], 7)
        with open(os.path.join(whole, "model.safetensors"), "rb") as a, \
                open(os.path.join(stopped, "model.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_a_model_of_every_position_needs_token_data(self):
        layers = network()
        layers[-1]["out_features"] = 3
        with open(self.path("lm.json"), "w") as f:
            json.dump(layers, f)
        rng = np.random.default_rng(0)
        with open(self.path("table.csv"), "w") as f:
            for row in rng.integers(0, VOCABULARY, size=(20, CONTEXT)):
                f.write(",".join([str(row[0] % 3)] + [str(v) for v in row]) + "\n")
        cases = {
            "csv": (["--model-spec", self.path("lm.json"), "--train", self.path("table.csv")],
                    "table.csv (train split) is not a token data set: it has one label per sample: end "
                    "the network with SelectToken"),
            "stream": (["--model", "gpt", "--train", "pipe:" + self.path("feed"), "--val", self.path("val"),
                        "--context", str(CONTEXT)], "a stream (pipe:) carries one label per sample"),
        }
        for name, (flags, expected) in cases.items():
            with self.subTest(name):
                result = run(["train", "--output-dir", self.path(name), "--max-steps", "1"] + flags)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(expected, result.stderr)
                self.assertFalse(os.path.exists(self.path(name, "model.safetensors")))


if __name__ == "__main__":
    unittest.main()
