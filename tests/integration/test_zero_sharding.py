"""Sharded data parallelism (--zero 1 and 2) against replicated data parallelism (--zero 0): the
same model to the bit with ringtrain's ring (a reduce-scatter then an all-gather is the ring's
allreduce, split), within float tolerance with the backend's own collectives; and checkpoints that
resume at another number of ranks and another stage."""
import glob
import os
import unittest

from ringtrain_testing import RingtrainTestCase


def model_bytes(out):
    with open(os.path.join(out, "model.safetensors"), "rb") as f:
        return f.read()


def assert_same_optimizer_state(test, written, expected_dir, step, fields=("exp_avg", "exp_avg_sq", "step")):
    """The optimizer state of the checkpoint `written`, streamed to rank 0 tensor by tensor or piece
    by piece, is, read by the safetensors package, the whole state of `expected_dir`'s: every
    parameter's fields (AdamW's step among them, equal to `step`), equal to the bit."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    import torch
    ours = load_file(os.path.join(written, "optimizer.safetensors"))
    theirs = load_file(os.path.join(expected_dir, "optimizer.safetensors"))
    model = load_file(os.path.join(written, "model.safetensors"))
    with safe_open(os.path.join(written, "optimizer.safetensors"), "pt") as f:
        test.assertEqual(f.metadata()["optimizer"], "adamw" if "step" in fields else "sgd")
    expected = sorted(f"{name}.{field}" for name in model for field in fields)
    test.assertEqual(sorted(ours), expected)
    test.assertEqual(sorted(theirs), expected)
    for name, tensor in ours.items():
        test.assertTrue(torch.equal(tensor, theirs[name]), name)
        if name.endswith(".step"):
            test.assertEqual(tensor.item(), step, name)
        else:
            test.assertEqual(tensor.shape, model[name.rsplit(".", 1)[0]].shape, name)


# 13 features, hidden 31 and 17, 5 classes: tensors of 403, 31, 527, 17, 85 and 5 elements, none
# of which divides by 2, 3 or 4. 720 samples.
DATA = ["--train", "synthetic:720:13:5", "--val", "synthetic:120:13:5", "--log-every", "10"]
MODEL = DATA + ["--hidden", "31,17"]

# Mixtures of settings by name: ranks, flags. Each runs over several buckets (--bucket-mb) so that
# shards cut through parameters.
RING_CASES = {
    "sgd-accum": (2, ["--optimizer", "sgd", "--momentum", "0.9", "--nesterov", "--weight-decay", "0.01",
                      "--grad-accum", "2", "--clip-grad-norm", "0.5", "--batch-size", "12", "--bucket-mb", "0.001"]),
    "adamw-bf16": (3, ["--optimizer", "adamw", "--lr", "0.01", "--weight-decay", "0.05", "--precision", "bf16",
                       "--clip-grad-norm", "0.3", "--batch-size", "8", "--bucket-mb", "0.002", "--overlap", "on"]),
    "adamw-accum": (4, ["--optimizer", "adamw", "--lr", "0.01", "--grad-accum", "2", "--clip-grad-norm", "1",
                        "--batch-size", "6", "--bucket-mb", "0.0015", "--lr-schedule", "cosine",
                        "--warmup-steps", "5"]),
    # fp16's loss scaling, compressed gradients, and the unused-parameter path.
    "fp16-compressed": (2, ["--precision", "fp16", "--grad-compression", "bf16", "--find-unused-parameters",
                            "--clip-grad-norm", "1", "--batch-size", "12", "--bucket-mb", "0.001"]),
    # 4 ranks and a model of 43 parameters, one bucket of 74 elements with alignment, which shards
    # into 32, 32, 10 and 0: rank 3 owns nothing.
    "ranks-owning-nothing": (4, ["--hidden", "2", "--optimizer", "adamw", "--lr", "0.01", "--batch-size", "6"]),
}


class ZeroStagesTrainTheSameModel(RingtrainTestCase):
    def test_bit_identical_with_the_ring_at_2_3_and_4_ranks(self):
        for name, (ranks, flags) in RING_CASES.items():
            model = [] if "--hidden" in flags else ["--hidden", "31,17"]
            args = DATA + model + ["--epochs", "2", "--allreduce", "ring"] + flags
            replicated = self.train(f"{name}-zero0", args + ["--zero", "0"], ranks=ranks)
            for stage in (1, 2):
                with self.subTest(case=name, ranks=ranks, zero=stage):
                    out = self.train(f"{name}-zero{stage}", args + ["--zero", str(stage)], ranks=ranks)
                    self.assertEqual(model_bytes(out), model_bytes(replicated))
                    summary = self.summary(out)
                    self.assertEqual(summary["zero"], stage)
                    self.assertGreater(summary["steps"], 20)

    def test_close_with_the_backends_collectives(self):
        args = MODEL + ["--epochs", "2", "--allreduce", "native", "--optimizer", "adamw", "--lr", "0.01",
                        "--batch-size", "8", "--bucket-mb", "0.002", "--clip-grad-norm", "0.5"]
        replicated = self.model(self.train("native-zero0", args + ["--zero", "0"], ranks=3))
        for stage in (1, 2):
            with self.subTest(zero=stage):
                sharded = self.model(self.train(f"native-zero{stage}", args + ["--zero", str(stage)], ranks=3))
                self.assertModelsClose(sharded, replicated, rtol=1e-5, atol=1e-6)

    def test_each_rank_holds_its_share_of_optimizer_state_and_gradients(self):
        # One bucket over 4 ranks; a rank's shard is a quarter of it, rounded up to 16 elements, and
        # the bucket has up to 15 elements of alignment before each of its 4 parameters.
        args = ["--train", "synthetic:96:13:5", "--val", "none", "--hidden", "600", "--epochs", "1",
                "--optimizer", "adamw", "--batch-size", "8"]
        memory = {stage: self.summary(self.train(f"memory{stage}", args + ["--zero", str(stage)], ranks=4))["memory"]
                  for stage in (0, 1, 2)}
        parameters = 13 * 600 + 600 + 600 * 5 + 5
        share = (parameters + 4 * 15) // 4 + 16
        for stage in (0, 1, 2):
            self.assertEqual(memory[stage]["parameter_bytes"], 4 * parameters)
        self.assertEqual(memory[0]["optimizer_state_bytes"], 8 * parameters)
        self.assertGreaterEqual(memory[0]["gradient_bytes"], 4 * parameters)
        self.assertGreaterEqual(memory[1]["gradient_bytes"], 4 * parameters)
        for stage in (1, 2):
            self.assertLessEqual(memory[stage]["optimizer_state_bytes"], 8 * share)
            self.assertGreaterEqual(memory[stage]["optimizer_state_bytes"], 8 * (parameters // 4))
        self.assertLessEqual(memory[2]["gradient_bytes"], 4 * share)
        # Backward fills the whole bucket before its reduce-scatter.
        self.assertGreaterEqual(memory[2]["gradient_peak_bytes"], 4 * parameters)

    def test_one_rank_has_nothing_to_shard(self):
        args = MODEL + ["--epochs", "1", "--batch-size", "24"]
        plain = self.train("one-zero0", args)
        sharded = self.train("one-zero2", args + ["--zero", "2"])
        self.assertEqual(model_bytes(sharded), model_bytes(plain))


class ZeroInPipelines(RingtrainTestCase):
    """Each stage's replicas shard that stage's optimizer state and gradients among themselves: 2
    stages x 2 replicas on 4 ranks give --zero 0's model, and checkpoints move between pipeline
    and plain data parallelism whatever the stage."""

    ARGS = DATA + ["--hidden", "31,17,9", "--allreduce", "ring", "--optimizer", "adamw", "--lr", "0.01",
                   "--batch-size", "12"]
    PIPELINE = ["--pipeline-stages", "2"]

    def test_bit_identical_to_zero_0(self):
        # Several buckets per stage, and one micro-batch, so that --zero 2 reduce-scatters inside
        # the schedule's backward.
        args = self.ARGS + self.PIPELINE + ["--epochs", "2", "--bucket-mb", "0.001", "--micro-batches", "1"]
        replicated = self.train("pipeline-zero0", args + ["--zero", "0"], ranks=4)
        memory = {0: self.summary(replicated)["memory"]}
        for stage in (1, 2):
            with self.subTest(zero=stage):
                out = self.train(f"pipeline-zero{stage}", args + ["--zero", str(stage)], ranks=4)
                self.assertEqual(model_bytes(out), model_bytes(replicated))
                memory[stage] = self.summary(out)["memory"]
        # Each of a stage's 2 replicas holds about half its optimizer state, and with --zero 2 about
        # half its gradients between steps.
        for stage in (1, 2):
            self.assertLess(memory[stage]["optimizer_state_bytes"], 0.6 * memory[0]["optimizer_state_bytes"])
        self.assertLess(memory[2]["gradient_bytes"], 0.6 * memory[1]["gradient_bytes"])

    def test_close_to_zero_0_with_clipping(self):
        # The norm's squares come from every rank in one allreduce, added in the backend's order.
        args = self.ARGS + self.PIPELINE + ["--epochs", "2", "--clip-grad-norm", "0.3"]
        replicated = self.model(self.train("clipped-zero0", args + ["--zero", "0"], ranks=4))
        sharded = self.model(self.train("clipped-zero2", args + ["--zero", "2"], ranks=4))
        self.assertModelsClose(sharded, replicated, rtol=1e-5, atol=1e-6)

    def test_checkpoints_move_between_pipelines_and_data_parallelism(self):
        args = self.ARGS + ["--epochs", "3", "--checkpoint-every", "20", "--checkpoint-keep", "5"]

        def at_step_20(out):
            return os.path.join(out, "checkpoints", "step-000000020")

        def resumed(name, checkpoint, flags, ranks):
            return model_bytes(self.train(name, args + flags + ["--resume", checkpoint], ranks=ranks))

        # A pipeline's --zero 2 checkpoint, resumed by 2 data-parallel ranks, as its --zero 0 one.
        pipelined = {stage: at_step_20(self.train(f"written-pipeline-zero{stage}",
                                                  args + self.PIPELINE + ["--zero", str(stage)], ranks=4))
                     for stage in (0, 2)}
        # Each stage's state, streamed to rank 0 tensor by tensor (from a sharded stage's replicas
        # piece by piece), is the whole model's, as an unsharded pipeline writes it.
        assert_same_optimizer_state(self, pipelined[2], pipelined[0], step=20)
        self.assertEqual(resumed("dp-from-pipeline-zero2", pipelined[2], [], 2),
                         resumed("dp-from-pipeline-zero0", pipelined[0], [], 2))
        # And the reverse: a data-parallel --zero 2 checkpoint, resumed by pipelines with and without.
        written = at_step_20(self.train("written-dp-zero2", args + ["--zero", "2"], ranks=2))
        self.assertEqual(resumed("pipeline-zero2-from-dp", written, self.PIPELINE + ["--zero", "2"], 4),
                         resumed("pipeline-zero0-from-dp", written, self.PIPELINE + ["--zero", "0"], 4))


class ZeroCheckpointsReshard(RingtrainTestCase):
    """A checkpoint holds whole tensors whatever wrote it, so it resumes at any number of ranks with
    any stage: resumed from a --zero 2 checkpoint, or from the --zero 0 checkpoint of the same step,
    training ends with the same model to the bit."""

    ARGS = MODEL + ["--epochs", "3", "--allreduce", "ring", "--checkpoint-every", "20", "--checkpoint-keep", "5"]
    ADAMW = ["--optimizer", "adamw", "--lr", "0.01"]

    def checkpoint_at_step_20(self, out):
        found = glob.glob(os.path.join(out, "checkpoints", "step-000000020"))
        self.assertEqual(len(found), 1, os.listdir(os.path.join(out, "checkpoints")))
        return found[0]

    def resume(self, name, checkpoint, ranks, stage):
        batch = 24 // ranks
        return model_bytes(self.train(name, self.ARGS + self.ADAMW + ["--batch-size", str(batch), "--resume",
                                                                      checkpoint, "--zero", str(stage)],
                                      ranks=ranks if ranks > 1 else None))

    def test_a_zero_2_checkpoint_from_4_ranks_resumes_at_3_ranks_and_at_1(self):
        sharded = self.checkpoint_at_step_20(
            self.train("written-zero2", self.ARGS + self.ADAMW + ["--batch-size", "6", "--zero", "2"], ranks=4))
        replicated = self.checkpoint_at_step_20(
            self.train("written-zero0", self.ARGS + self.ADAMW + ["--batch-size", "6", "--zero", "0"], ranks=4))
        assert_same_optimizer_state(self, sharded, replicated, step=20)
        # At 3 ranks: --zero 2 from either checkpoint, and --zero 0 from the sharded one.
        expected = self.resume("at3-zero0-from0", replicated, 3, 0)
        self.assertEqual(self.resume("at3-zero2-from2", sharded, 3, 2), expected)
        self.assertEqual(self.resume("at3-zero0-from2", sharded, 3, 0), expected)
        self.assertEqual(self.resume("at3-zero2-from0", replicated, 3, 2), expected)
        # At 1 rank, without sharding.
        self.assertEqual(self.resume("at1-from2", sharded, 1, 0), self.resume("at1-from0", replicated, 1, 0))

    def test_sgd_momentum_reshards_too(self):
        sgd = self.ARGS + ["--optimizer", "sgd", "--momentum", "0.9"]
        sharded = self.checkpoint_at_step_20(
            self.train("sgd-zero2", sgd + ["--batch-size", "6", "--zero", "2"], ranks=4))
        # Three stages of one replica each, which stream their momentum to rank 0 in turn.
        pipelined = self.checkpoint_at_step_20(
            self.train("sgd-pipeline", sgd + ["--batch-size", "24", "--pipeline-stages", "3",
                                               "--micro-batches", "1"], ranks=3))
        single = self.checkpoint_at_step_20(self.train("sgd-single", sgd + ["--batch-size", "24"]))
        assert_same_optimizer_state(self, pipelined, single, step=20, fields=("momentum_buffer",))
        # AdamW's two fields and its step, streamed stage after stage, against one rank's.
        adamw = self.ARGS + self.ADAMW + ["--batch-size", "24"]
        pipelined = self.checkpoint_at_step_20(
            self.train("adamw-pipeline", adamw + ["--pipeline-stages", "3", "--micro-batches", "1"], ranks=3))
        single = self.checkpoint_at_step_20(self.train("adamw-single", adamw))
        assert_same_optimizer_state(self, pipelined, single, step=20)
        resumed = {stage: model_bytes(self.train(f"sgd-at3-zero{stage}", sgd + [
            "--batch-size", "8", "--resume", sharded, "--zero", str(stage)], ranks=3)) for stage in (0, 1)}
        self.assertEqual(resumed[1], resumed[0])


if __name__ == "__main__":
    unittest.main()
