#!/usr/bin/env python3
"""Build a ringtrain --model-spec network in PyTorch, and load a model ringtrain trained into it.

The network is an nn.Sequential whose i-th module is the spec's i-th layer, so its state_dict keys
("0.weight", "3.bias", "5.attention.qkv.weight") are the tensor names of ringtrain's
model.safetensors. Built-in models (--model mlp, cnn, gpt, autoencoder) are written as their
equivalent spec, so every model file loads. Use it from Python:

    from spec_to_torch import load_model
    model, standardize = load_model("runs/latest/model.safetensors")
    logits = model(standardize(features))

or from the shell, to print the network or score a CSV file:

    tools/spec_to_torch.py runs/latest/model.safetensors --data val.csv --predictions p.npy
    tools/spec_to_torch.py --spec net.json --input-shape 1,28,28
"""
import argparse
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

STANDARDIZATION = ("input_standardization.mean", "input_standardization.std")
SENTENCEPIECE = "tokenizer.sentencepiece"


class TokenEmbedding(nn.Embedding):
    """Token ids stored as numbers (floats in a batch) -> [length, embedding_dim]."""

    def forward(self, x):
        return super().forward(x.long())


class PositionalEmbedding(nn.Module):
    def __init__(self, positions, width):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(positions, width))

    def forward(self, x):
        return x + self.weight[: x.shape[1]].unsqueeze(0)


class SelectToken(nn.Module):
    def __init__(self, index):
        super().__init__()
        self.index = index

    def forward(self, x):
        return x.select(1, self.index)


class SelfAttention(nn.Module):
    def __init__(self, width, heads, causal):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.proj(attended.transpose(1, 2).reshape(batch, length, width))


class FeedForward(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class TransformerBlock(nn.Module):
    """Pre-norm: x + attention(norm1(x)), then y + mlp(norm2(y)), as ringtrain's."""

    def __init__(self, width, heads, mlp_width, causal):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attention = SelfAttention(width, heads, causal)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = FeedForward(width, mlp_width)

    def forward(self, x):
        y = x + self.attention(self.norm1(x))
        return y + self.mlp(self.norm2(y))


def _pair(value):
    return tuple(value) if isinstance(value, list) else value


def _layer(fields, shape):
    """One spec layer as a module, for a sample of `shape` (without the batch)."""
    kind, get = fields["type"], fields.get
    if kind == "Linear":
        return nn.Linear(shape[-1], fields["out_features"], bias=get("bias", True))
    if kind == "Conv2d":
        return nn.Conv2d(shape[0], fields["out_channels"], _pair(fields["kernel_size"]),
                         stride=_pair(get("stride", 1)), padding=_pair(get("padding", 0)),
                         bias=get("bias", True))
    if kind == "MaxPool2d":
        kernel = _pair(fields["kernel_size"])
        return nn.MaxPool2d(kernel, stride=_pair(get("stride", kernel)), padding=_pair(get("padding", 0)))
    if kind == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(_pair(fields["output_size"]))
    if kind == "Flatten":
        return nn.Flatten(get("start_dim", 1), get("end_dim", -1))
    if kind == "Unflatten":
        return nn.Unflatten(get("dim", 1), tuple(fields["unflattened_size"]))
    if kind == "ReLU":
        return nn.ReLU()
    if kind == "GELU":
        return nn.GELU(approximate=get("approximate", "none"))
    if kind == "Tanh":
        return nn.Tanh()
    if kind == "Sigmoid":
        return nn.Sigmoid()
    if kind == "Dropout":
        return nn.Dropout(get("p", 0.5))
    if kind == "LayerNorm":
        normalized = get("normalized_shape", shape[-1])
        return nn.LayerNorm(normalized, eps=get("eps", 1e-5),
                            elementwise_affine=get("elementwise_affine", True))
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        norm = nn.BatchNorm1d if kind == "BatchNorm1d" else nn.BatchNorm2d
        return norm(shape[0], eps=get("eps", 1e-5), momentum=get("momentum", 0.1), affine=get("affine", True))
    if kind == "Embedding":
        return TokenEmbedding(fields["num_embeddings"], fields["embedding_dim"])
    if kind == "PositionalEmbedding":
        return PositionalEmbedding(get("num_positions", shape[0]), shape[1])
    if kind == "TransformerBlock":
        return TransformerBlock(shape[1], fields["heads"], get("mlp_width", 4 * shape[1]), get("causal", True))
    if kind == "SelectToken":
        return SelectToken(get("index", -1))
    raise ValueError(f"unknown layer type {kind!r}")


def build(network, input_shape):
    """nn.Sequential for a spec (the JSON text, or its parsed list or object) and a sample shape.

    ringtrain checks the spec when it trains; here each layer's input shape is found by passing
    a probe through the layers before it."""
    if isinstance(network, str):
        network = json.loads(network)
    layers = network["layers"] if isinstance(network, dict) else network
    shape = list(input_shape)
    modules = []
    for fields in layers:
        module = _layer(fields, shape)
        module.eval()
        with torch.no_grad():
            tokens = fields["type"] == "Embedding"
            probe = torch.zeros([2] + shape, dtype=torch.long if tokens else torch.float32)
            shape = list(module(probe).shape[1:])
        modules.append(module)
    return nn.Sequential(*modules)


def load_model(path):
    """(model, standardize) from any ringtrain model.safetensors: a --model-spec network, or a
    built-in model (mlp, cnn, gpt, autoencoder) as its equivalent spec.

    standardize(features) applies what training applied to the features (nothing when it did not
    standardise them). A language model trained on SentencePiece tokens carries its tokenizer as
    model.sentencepiece_model, the bytes of its .model file (None otherwise):
    sentencepiece.SentencePieceProcessor(model_proto=model.sentencepiece_model)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, "pt") as handle:
        metadata = handle.metadata() or {}
    # Files with this marker hold the scale to divide by (1 for a feature constant in training);
    # earlier ones hold the standard deviation, which their training clamped to at least 1e-6.
    marker = metadata.get("input_standardization")
    if marker not in (None, "scale"):
        raise ValueError(f"{path}: metadata 'input_standardization' is {marker!r}, which this version does not know")
    holds_scale = marker == "scale"
    # Every model file records its network, built-in models (mlp, cnn, gpt, autoencoder) as their
    # equivalent spec, except those of earlier versions and of programs' own models.
    if "network" not in metadata:
        raise ValueError(f"{path}: records no network (model {metadata.get('model')!r}): written by a "
                         "program's own model, or by an earlier ringtrain; rewrite it with this version: "
                         "the run's ringtrain train command with --init-from FILE --max-steps 0")
    shape = [int(extent) for extent in metadata["input_shape"].split("x")]
    model = build(metadata["network"], shape)
    tensors = load_file(path)
    statistics = [tensors.pop(name, None) for name in STANDARDIZATION]
    tokenizer = tensors.pop(SENTENCEPIECE, None)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    model.input_shape = shape  # one sample's, as training saw it
    model.kind = metadata.get("model")  # mlp, cnn, gpt, autoencoder or spec
    model.sentencepiece_model = None if tokenizer is None else tokenizer.numpy().tobytes()

    def standardize(features):
        if statistics[0] is None:
            return features
        mean, scale = statistics
        if not holds_scale:
            scale = scale.clamp_min(1e-6)
        flat = features.reshape(features.shape[0], -1)
        return ((flat - mean) / scale).reshape(features.shape)

    return model, standardize


def _read_csv(path, header, label_column):
    import numpy as np

    table = np.loadtxt(path, delimiter=",", skiprows=1 if header else 0, dtype=np.float32, ndmin=2)
    labels = table[:, label_column].astype(np.int64)
    features = np.delete(table, label_column, axis=1)
    return torch.from_numpy(features), torch.from_numpy(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", help="a model.safetensors written by ringtrain train")
    parser.add_argument("--spec", help="just build this spec (with --input-shape) and print it")
    parser.add_argument("--input-shape", help="with --spec: one sample's shape, e.g. 1,28,28")
    parser.add_argument("--data", help="a CSV file to score the model on")
    parser.add_argument("--csv-header", action="store_true")
    parser.add_argument("--label-column", type=int, default=0)
    parser.add_argument("--predictions", help="write the logits here (.npy)")
    args = parser.parse_args()
    if args.spec:
        if not args.input_shape:
            parser.error("--spec needs --input-shape")
        with open(args.spec) as handle:
            print(build(handle.read(), [int(x) for x in args.input_shape.split(",")]))
        return 0
    if not args.model:
        parser.error("give a model.safetensors, or --spec")
    model, standardize = load_model(args.model)
    print(model)
    if args.data:
        not_a_classifier = (f"--data scores a classifier's rows of a CSV file; {args.model} is not a "
                            f"classifier (model {model.kind!r}): score it with ringtrain eval")
        if model.kind in ("gpt", "autoencoder"):
            parser.error(not_a_classifier)
        features, labels = _read_csv(args.data, args.csv_header, args.label_column)
        with torch.no_grad():
            logits = model(standardize(features).reshape(features.shape[0], *model.input_shape))
        if logits.dim() != 2:
            parser.error(not_a_classifier)
        accuracy = (logits.argmax(1) == labels).double().mean().item()
        loss = F.cross_entropy(logits, labels).item()
        print(f"samples={len(labels)} loss={loss:.6f} accuracy={accuracy:.6f}")
        if args.predictions:
            import numpy as np

            np.save(args.predictions, logits.numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main())
