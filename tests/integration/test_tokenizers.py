"""Text prepared through SentencePiece, against the `sentencepiece` Python package: the token ids
`ringtrain prep --tokenizer sentencepiece:MODEL` stores equal the package's for the same model
and text (unigram and BPE models), and so do those of a tokenizer `prep --tokenizer
train-sentencepiece:VOCAB` trains and keeps beside the shards; a GPT trains on them and its
model file keeps the tokenizer, so that `ringtrain generate` reads and writes text in it,
equal to PyTorch's greedy decoding with the same weights (loaded by tools/spec_to_torch.py) and
the package's decoding."""
import io
import json
import os
import subprocess
import sys
import unittest

import numpy as np
import sentencepiece as spm
import torch
from safetensors import safe_open

from ringtrain_testing import RingtrainTestCase, command, run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from spec_to_torch import load_model  # noqa: E402

CONTEXT, WIDTH = 16, 32
SYLLABLES = ["ka", "to", "ri", "sen", "mo", "la", "pi", "du", "ver", "no", "ta", "shi"]


def corpus(seed, lines):
    """Words of one to three syllables, some more frequent than others; a word repeats its
    predecessor's last syllable now and then, so there is something for a model to learn."""
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(SYLLABLES, size=rng.integers(1, 4))) for _ in range(150)]
    weights = 1.0 / np.arange(1, len(words) + 1)
    weights /= weights.sum()
    text = []
    for _ in range(lines):
        text.append(" ".join(rng.choice(words, size=rng.integers(4, 12), p=weights)))
    return "\n".join(text) + "\n"


def stored_ids(directory):
    """Every token id of a data set, read from its shards as docs/DATA_FORMAT.md lays them out."""
    with open(os.path.join(directory, "index.json")) as f:
        index = json.load(f)
    dtype = np.dtype(index["dtype"]).newbyteorder("<")
    ids = []
    for shard in index["shards"]:
        with open(os.path.join(directory, shard["file"]), "rb") as f:
            f.seek(4096)
            ids.append(np.frombuffer(f.read(), dtype=dtype))
    return index, np.concatenate(ids).astype(np.int64)


def package_ids(processor, text):
    """What spm_encode gives: each line on its own."""
    return np.array([i for line in text.splitlines() for i in processor.encode(line)], dtype=np.int64)


def train_package_model(text_path, vocabulary, model_type):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(input=text_path, model_writer=model, vocab_size=vocabulary,
                                   model_type=model_type, minloglevel=1)
    return model.getvalue()


class SentencePieceMatchesThePythonPackage(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        for name, seed, lines in (("train", 1, 1500), ("val", 2, 200)):
            with open(self.path(name + ".txt"), "w") as f:
                f.write(corpus(seed, lines))
        with open(self.path("train.txt")) as f:
            self.text = f.read()

    def prep(self, name, tokenizer, source="train.txt"):
        result = run(["prep", "--input", self.path(source), "--output", self.path(name), "--tokenizer", tokenizer])
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def test_a_given_model_gives_the_packages_ids(self):
        for model_type in ("unigram", "bpe"):
            with self.subTest(model_type=model_type):
                model = train_package_model(self.path("train.txt"), 120, model_type)
                with open(self.path(model_type + ".model"), "wb") as f:
                    f.write(model)
                out = self.prep(model_type, "sentencepiece:" + self.path(model_type + ".model"))
                processor = spm.SentencePieceProcessor(model_proto=model)
                index, ids = stored_ids(self.path(model_type))
                expected = package_ids(processor, self.text)
                self.assertGreater(len(expected), 1000)
                self.assertLess(len(expected), len(self.text) / 2)  # pieces, not characters
                np.testing.assert_array_equal(ids, expected)
                self.assertEqual(index["num_classes"], processor.get_piece_size())
                self.assertEqual(index["dtype"], "uint8")  # the narrowest type for 120 ids
                self.assertEqual(index["tokenizer"]["kind"], "sentencepiece")
                with open(self.path(model_type, "tokenizer.model"), "rb") as f:
                    self.assertEqual(f.read(), model)
                self.assertIn(f"{len(expected)} tokens (sentencepiece, vocabulary 120)", out.stdout)

    def test_a_trained_model_is_kept_and_gives_the_packages_ids(self):
        self.prep("trained", "train-sentencepiece:400")
        processor = spm.SentencePieceProcessor(model_file=self.path("trained", "tokenizer.model"))
        index, ids = stored_ids(self.path("trained"))
        np.testing.assert_array_equal(ids, package_ids(processor, self.text))
        self.assertEqual(index["num_classes"], processor.get_piece_size())
        self.assertLessEqual(processor.get_piece_size(), 400)
        self.assertEqual(index["dtype"], "uint16")
        self.assertTrue(processor.is_byte(processor.piece_to_id("<0x41>")))  # byte fallback

    def test_bad_tokenizers_are_named(self):
        with open(self.path("junk.model"), "w") as f:
            f.write("not a model")
        for flag, message in (("sentencepiece:" + self.path("junk.model"), "is not a SentencePiece model"),
                              ("sentencepiece:" + self.path("absent.model"), "no such file"),
                              ("wordpiece:x", "use byte, sentencepiece:MODEL"),
                              ("train-sentencepiece:many", "--tokenizer")):
            with self.subTest(flag=flag):
                result = run(["prep", "--input", self.path("train.txt"), "--output", self.path("bad"),
                              "--tokenizer", flag])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertFalse(os.path.exists(self.path("bad")))

    def test_a_gpt_trains_on_pieces_and_generates_them(self):
        self.prep("train", "train-sentencepiece:300")
        # Validation text through the same tokenizer; another would be refused.
        self.prep("val", "sentencepiece:" + self.path("train", "tokenizer.model"), "val.txt")
        self.prep("val-bytes", "byte", "val.txt")
        processor = spm.SentencePieceProcessor(model_file=self.path("train", "tokenizer.model"))
        vocabulary = processor.get_piece_size()
        layers = [{"type": "Embedding", "num_embeddings": vocabulary, "embedding_dim": WIDTH},
                  {"type": "PositionalEmbedding", "num_positions": CONTEXT},
                  {"type": "TransformerBlock", "heads": 2, "mlp_width": 4 * WIDTH, "causal": True},
                  {"type": "LayerNorm", "normalized_shape": [WIDTH]},
                  {"type": "Linear", "out_features": vocabulary}]
        with open(self.path("gpt.json"), "w") as f:
            json.dump(layers, f)
        common = ["--train", self.path("train"), "--context", str(CONTEXT), "--batch-size", "16",
                  "--optimizer", "adamw", "--lr", "1e-2", "--log-every", "1", "--max-steps", "100"]
        out = self.train("spec", ["--model-spec", self.path("gpt.json"), "--val", self.path("val")] + common,
                         ranks=2)
        with open(os.path.join(out, "metrics.jsonl")) as f:
            losses = [record["loss"] for record in map(json.loads, f) if "loss" in record]
        self.assertLess(losses[-1], 0.6 * losses[0])
        self.assertLess(self.summary(out)["val_perplexity"], vocabulary / 10)
        refused = run(["train", "--model-spec", self.path("gpt.json"), "--val", self.path("val-bytes"),
                       "--output-dir", self.path("refused")] + common)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("prepare both with the same --tokenizer", refused.stderr)

        model_path = os.path.join(out, "model.safetensors")
        with safe_open(model_path, "pt") as f:
            self.assertEqual(f.metadata()["tokenizer"], "sentencepiece")
            stored = f.get_tensor("tokenizer.sentencepiece").numpy().tobytes()
        with open(self.path("train", "tokenizer.model"), "rb") as f:
            self.assertEqual(stored, f.read())
        reference, _ = load_model(model_path)
        self.assertEqual(reference.sentencepiece_model, stored)
        prompt, count = "kato risen", 30
        prompt_ids = processor.encode(prompt)
        tokens = list(prompt_ids)
        with torch.no_grad():
            for _ in range(count):
                logits = reference(torch.tensor([tokens[-CONTEXT:]], dtype=torch.float32))
                tokens.append(int(logits[0, -1].argmax()))
        before, after = processor.decode(prompt_ids), processor.decode(tokens)
        self.assertTrue(after.startswith(before))
        expected = prompt + after[len(before):] + "\n"
        result = subprocess.run(command(["generate", "--model", model_path, "--prompt", prompt, "--max-tokens",
                                         str(count), "--temperature", "0"]),
                                capture_output=True, text=True, timeout=180)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, expected)
        self.assertGreater(len(expected.split()), len(prompt.split()) + 3)  # words came out

        # Scoring it on ids of another tokenizer is refused; check-data verifies the tokenizer too.
        wrong = run(["eval", "--model", model_path, "--data", self.path("val-bytes")])
        self.assertEqual(wrong.returncode, 2)
        self.assertIn("was tokenized with another tokenizer (byte)", wrong.stderr)
        checked = run(["check-data", self.path("train")])
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertIn("(sentencepiece tokenizer)", checked.stdout)
        # Shards read without their index (one host's files) keep the tokenizer.
        hosts = self.train("hosts", ["--model-spec", self.path("gpt.json"), "--train", self.path("train"),
                                     "--val", self.path("val"), "--context", str(CONTEXT), "--data-sharding",
                                     "host", "--max-steps", "0"])
        with safe_open(os.path.join(hosts, "model.safetensors"), "pt") as f:
            self.assertEqual(f.metadata()["tokenizer"], "sentencepiece")


if __name__ == "__main__":
    unittest.main()
