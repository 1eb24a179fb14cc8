"""`ringtrain train --pipeline-stages P`: a pipeline of P ranks (times D replicas) trains like a
data-parallel run of D ranks with the same global batch, and its checkpoints and model files are
interchangeable with a data-parallel run's."""
import os
import subprocess
import unittest

from ringtrain_testing import BIN, MPIRUN, RingtrainTestCase, run

# Small and quick; --drop-last on the data-parallel side, which pipeline mode implies.
COMMON = ["--train", "synthetic:3000", "--hidden", "48,40,32", "--max-steps", "12", "--log-every", "4"]
DATA_PARALLEL = COMMON + ["--drop-last"]


def pipeline(stages, *extra):
    return COMMON + ["--pipeline-stages", str(stages)] + list(extra)


class PipelineTraining(RingtrainTestCase):
    def assertTrainsAlike(self, pipe_out, reference_out, rtol=1e-4, atol=1e-6):
        self.assertModelsClose(self.model(pipe_out), self.model(reference_out), rtol=rtol, atol=atol)
        mine, theirs = self.summary(pipe_out), self.summary(reference_out)
        self.assertAlmostEqual(mine["final_train_loss"], theirs["final_train_loss"], places=5)
        self.assertAlmostEqual(mine["val_accuracy"], theirs["val_accuracy"], places=6)
        self.assertEqual(mine["global_batch"], theirs["global_batch"])

    def test_two_stages_train_like_one_rank(self):
        reference = self.train("dp1", DATA_PARALLEL)
        for schedule in ("1f1b", "gpipe"):
            with self.subTest(schedule=schedule):
                out = self.train("pp2-" + schedule,
                                 pipeline(2, "--schedule", schedule, "--micro-batches", "4"), ranks=2)
                self.assertTrainsAlike(out, reference)
                report = self.summary(out)["pipeline"]
                stages, micro = 2, 4
                self.assertEqual((report["stages"], report["replicas"], report["micro_batches"]),
                                 (stages, 1, micro))
                self.assertEqual(report["micro_batch_size"], 64 // micro)
                self.assertAlmostEqual(report["bubble_theory"], (stages - 1) / (micro + stages - 1))
                held = [micro] * stages if schedule == "gpipe" else \
                    [min(stages - s, micro) for s in range(stages)]
                self.assertEqual(report["max_activations_held"], held)
                self.assertEqual(sum(report["layers_per_stage"]), 4)

    def test_stages_times_replicas_train_like_the_replicas_alone(self):
        # 2 stages x 2 replicas against 2 data-parallel ranks; 3 stages with checked messages and
        # gradient accumulation against one rank.
        reference = self.train("dp2", DATA_PARALLEL + ["--batch-size", "32"], ranks=2)
        out = self.train("pp2x2", pipeline(2, "--batch-size", "32"), ranks=4)
        self.assertTrainsAlike(out, reference)
        self.assertEqual(self.summary(out)["pipeline"]["replicas"], 2)

        reference = self.train("dp1-accum", DATA_PARALLEL + ["--grad-accum", "2", "--batch-size", "24"])
        out = self.train("pp3", pipeline(3, "--grad-accum", "2", "--batch-size", "24",
                                         "--pipeline-check-messages", "--partition", "uniform"), ranks=3)
        self.assertTrainsAlike(out, reference)
        report = self.summary(out)["pipeline"]
        self.assertEqual(report["micro_batches"], 12)  # the largest divisor of 24 up to 4 x 3
        self.assertEqual(report["layers_per_stage"], [2, 1, 1])

    def test_checkpoints_move_between_pipeline_and_data_parallel(self):
        optimizer = ["--optimizer", "adamw", "--lr", "0.002", "--checkpoint-every", "6"]
        straight = self.train("straight", DATA_PARALLEL + optimizer)
        # Written by a pipeline, resumed data-parallel, and the other way round.
        first = self.path("pp-then-dp")
        halfway = COMMON[:-4] + ["--max-steps", "6"]
        self.assertEqual(run(["train", "--output-dir", first, "--pipeline-stages", "2"] + halfway +
                             optimizer, ranks=2).returncode, 0)
        self.assertTrue(os.path.isdir(os.path.join(first, "checkpoints", "step-000000006")))
        self.train("pp-then-dp", COMMON + optimizer)  # no --drop-last, as the pipeline run
        # Without --drop-last, which pipeline mode implies: the checkpoint is still this run's.
        second = self.path("dp-then-pp")
        self.assertEqual(run(["train", "--output-dir", second] + halfway + optimizer).returncode, 0)
        self.train("dp-then-pp", pipeline(2) + optimizer, ranks=2)
        for out in (first, second):
            with self.subTest(out=os.path.basename(out)):
                self.assertEqual(self.summary(out)["resumed_at_step"], 6)
                self.assertModelsClose(self.model(out), self.model(straight), rtol=1e-4, atol=1e-5)

    def test_init_from_a_model_file_for_any_stage_count(self):
        start = self.train("start", DATA_PARALLEL)
        weights = os.path.join(start, "model.safetensors")
        reference = self.train("from-dp", DATA_PARALLEL + ["--init-from", weights])
        for stages in (2, 3):
            with self.subTest(stages=stages):
                out = self.train(f"from-pp{stages}", pipeline(stages, "--init-from", weights),
                                 ranks=stages)
                self.assertTrainsAlike(out, reference)

    def test_ranks_started_with_other_models_stop_before_training(self):
        # One rank per model: their stages would exchange activations of other shapes.
        out = self.path("mixed")
        flags = ["train", "--output-dir", out, "--progress", "off", "--pipeline-stages", "2"] + COMMON[:2]
        result = subprocess.run([MPIRUN, "--oversubscribe", "--bind-to", "none",
                                 "-np", "1", BIN] + flags + ["--hidden", "48,40,32"] +
                                [":", "-np", "1", BIN] + flags + ["--hidden", "48,40,33"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("rank 1 made another pipeline plan than rank 0's", result.stderr)

    def test_bad_pipeline_flags_are_named(self):
        cases = [
            (3, pipeline(2), "--pipeline-stages 2 does not divide the 3 ranks"),
            (2, pipeline(2, "--batch-size", "30", "--micro-batches", "4"),
             "--batch-size 30 does not divide into --micro-batches 4"),
            (3, COMMON[:2] + ["--hidden", "16", "--pipeline-stages", "3", "--max-steps", "2"],
             "layers, fewer than the 3 pipeline stages"),
            (2, pipeline(2, "--partition", "explicit:1,1"), "--partition"),
            (None, COMMON + ["--micro-batches", "4"], "need --pipeline-stages 2 or more"),
            (None, COMMON + ["--pipeline-stages", "0"], "--pipeline-stages must be between"),
        ]
        for ranks, args, message in cases:
            with self.subTest(message=message):
                result = run(["train", "--output-dir", self.path("bad"), "--progress", "off"] + args,
                             ranks=ranks, timeout=120)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(message, result.stderr)


if __name__ == "__main__":
    unittest.main()
