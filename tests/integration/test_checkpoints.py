"""Checkpoints end to end: a run stopped at any point and resumed from its newest complete
checkpoint ends with exactly the model of a run that was never stopped."""
import glob
import json
import os
import signal
import subprocess
import time
import unittest

from ringtrain_testing import RingtrainTestCase, run

# Constant learning rate, shuffled data over several epochs: resuming must restore the weights,
# the momentum, the step and the position in the epoch's sample order to come out identical.
DATA = ["--train", "synthetic:1200:16:4", "--val", "synthetic:200:16:4", "--hidden", "32,16",
        "--epochs", "3", "--batch-size", "20", "--lr", "0.05", "--log-every", "1000"]

# Long enough (1250 steps at 2 ranks) for a test to stop it after its first checkpoint.
LONG = ["--train", "synthetic:40000:64:4", "--val", "synthetic:200:64:4", "--hidden", "256,256",
        "--epochs", "2", "--batch-size", "32", "--lr", "0.02", "--log-every", "1000"]


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def rewrite_manifest(path, change):
    """Applies change(manifest) and seals the manifest again with its checksum, as ringtrain does
    (CRC-32C of the compact, key-sorted JSON without the checksum field)."""
    with open(path) as f:
        manifest = json.load(f)
    change(manifest)
    manifest.pop("manifest_crc32c", None)
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    manifest["manifest_crc32c"] = crc32c(text.encode())
    with open(path, "w") as f:
        json.dump(manifest, f)


def model_bytes(out):
    with open(os.path.join(out, "model.safetensors"), "rb") as f:
        return f.read()


def checkpoints(directory):
    return sorted(glob.glob(os.path.join(directory, "step-*")))


class Checkpoints(RingtrainTestCase):
    def test_resuming_a_stopped_run_gives_the_uninterrupted_model(self):
        # 1200 samples / (2 ranks x 20) = 30 steps per epoch, 90 in all; stopping at step 40 lands
        # mid-epoch.
        whole = self.train("whole", DATA, ranks=2)
        out = self.path("stopped")
        self.train("stopped", DATA + ["--max-steps", "40", "--checkpoint-every", "20"], ranks=2)
        self.assertEqual([os.path.basename(p) for p in checkpoints(os.path.join(out, "checkpoints"))],
                         ["step-000000020", "step-000000040"])
        self.train("stopped", DATA, ranks=2)  # --resume auto is the default
        summary = self.summary(out)
        self.assertEqual(summary["resumed_at_step"], 40)
        self.assertEqual(summary["steps"], 90)
        self.assertEqual(model_bytes(out), model_bytes(whole))

    def test_resume_after_a_rank_is_killed(self):
        args = LONG
        whole = self.train("whole", args, ranks=2, timeout=600)
        out = self.path("killed")
        job, pids = self.start_and_wait_for_training(out, ["--checkpoint-every", "100"] + args, 2)
        os.kill(pids[-1], signal.SIGKILL)
        job.communicate(timeout=120)
        self.assertNotEqual(job.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(out, "summary.json")), "the run finished before the kill")

        self.train("killed", args, ranks=2, timeout=600)
        self.assertGreater(self.summary(out)["resumed_at_step"], 0)
        self.assertEqual(model_bytes(out), model_bytes(whole))

    def start_and_wait_for_training(self, out, args, ranks):
        return self.start_training(out, args, ranks, lambda: checkpoints(os.path.join(out, "checkpoints")))

    def test_a_stop_signal_to_one_rank_stops_all_at_a_checkpoint_that_resumes_exactly(self):
        args = LONG
        whole = self.train("whole", args, ranks=2, timeout=600)
        for name, sig in (("term", signal.SIGTERM), ("usr1", signal.SIGUSR1)):
            with self.subTest(signal=name):
                out = self.path(name)
                job, pids = self.start_and_wait_for_training(out, ["--checkpoint-every", "100"] + args, 2)
                started = time.monotonic()
                os.kill(pids[-1], sig)
                stdout, stderr = job.communicate(timeout=120)
                self.assertEqual(job.returncode, 0, stderr)
                self.assertLess(time.monotonic() - started, 60)
                summary = self.summary(out)
                self.assertEqual(summary["stopped_by"], signal.Signals(sig).name)
                self.assertLess(summary["steps"], 1250)
                self.assertIn(f"stopping at step {summary['steps']}", stdout)
                newest = os.path.basename(checkpoints(os.path.join(out, "checkpoints"))[-1])
                self.assertEqual(newest, f"step-{summary['steps']:09d}")
                self.train(name, args, ranks=2, timeout=600)
                self.assertEqual(self.summary(out)["resumed_at_step"], summary["steps"])
                self.assertEqual(model_bytes(out), model_bytes(whole))

    def test_a_corrupt_newest_checkpoint_is_skipped_for_the_one_before(self):
        whole = self.train("whole", DATA)
        out = self.path("corrupt")
        self.train("corrupt", DATA + ["--max-steps", "120", "--checkpoint-every", "60"])
        newest = checkpoints(os.path.join(out, "checkpoints"))[-1]
        with open(os.path.join(newest, "optimizer.safetensors"), "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
        result = run(["train", "--output-dir", out, "--progress", "off", "--threads", "1"] + DATA)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("skipping checkpoint", result.stderr)
        self.assertIn("optimizer.safetensors fails its checksum", result.stderr)
        self.assertEqual(self.summary(out)["resumed_at_step"], 60)
        self.assertEqual(model_bytes(out), model_bytes(whole))

    def test_resuming_with_other_settings_is_refused(self):
        out = self.path("settings")
        self.train("settings", DATA + ["--max-steps", "20", "--checkpoint-every", "20"])
        changed = [a if a != "32,16" else "24" for a in DATA] + ["--seed", "7"]
        result = run(["train", "--output-dir", out, "--progress", "off"] + changed, ranks=2)
        self.assertEqual(result.returncode, 2)
        self.assertIn("belongs to a different run", result.stderr)
        self.assertIn("hidden: [32,16] there, [24] here", result.stderr)
        self.assertIn("seed: 42 there, 7 here", result.stderr)
        # Explicitly not resuming is always possible.
        self.train("settings", changed + ["--resume", "none"], ranks=2)

    def test_resuming_at_another_number_of_ranks_continues_the_epoch_where_it_stopped(self):
        # 1200 samples, 2 ranks x 20: 30 steps per epoch. Stopped after 40 steps: 10 steps, 400
        # samples, into the second epoch.
        whole = self.train("whole", DATA, ranks=2)
        for ranks, batch in ((1, 40), (4, 10), (3, 20)):
            with self.subTest(ranks=ranks, batch=batch):
                name = f"to-{ranks}"
                out = self.train(name, DATA + ["--max-steps", "40", "--checkpoint-every", "20"], ranks=2)
                resumed = [a if a != "20" else str(batch) for a in DATA]  # --batch-size
                result = run(["train", "--output-dir", out, "--progress", "off", "--threads", "1"] + resumed,
                             ranks=ranks)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("resumed from", result.stdout)
                self.assertIn("sample 400 of 1200", result.stdout)
                summary = self.summary(out)
                self.assertEqual(summary["resumed_at_step"], 40)
                # The other 800 samples of the epoch, then a whole epoch, at `ranks` x `batch`.
                per_rank_left = -(-800 // ranks)
                per_rank_epoch = -(-1200 // ranks)
                expected = 40 + -(-per_rank_left // batch) + -(-per_rank_epoch // batch)
                self.assertEqual(summary["steps"], expected)
                if ranks * batch == 40:
                    # The same global batches in the same order: the same model, to rounding.
                    self.assertModelsClose(self.model(out), self.model(whole))

    def test_a_checkpoint_that_counted_steps_in_the_epoch_still_resumes_exactly(self):
        # Checkpoints written before the sample position was recorded hold the step in the epoch
        # and name the world size and batch in their identity.
        whole = self.train("whole", DATA, ranks=2)
        out = self.train("old", DATA + ["--max-steps", "40", "--checkpoint-every", "20"], ranks=2)

        def to_old_format(manifest):
            state = manifest["state"]
            state["position"] = {"step": 40, "epoch": 1, "step_in_epoch": 10}
            state["identity"].update({"world_size": 2, "batch_size": 20, "grad_accum": 1})

        rewrite_manifest(os.path.join(out, "checkpoints", "step-000000040", "manifest.json"), to_old_format)
        self.train("old", DATA, ranks=2)
        self.assertEqual(self.summary(out)["resumed_at_step"], 40)
        self.assertEqual(model_bytes(out), model_bytes(whole))

    def test_a_checkpoint_that_does_not_fit_on_disk_is_skipped_and_nothing_is_damaged(self):
        disk = self.path("disk")
        os.makedirs(disk)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk],
                          capture_output=True).returncode != 0:
            self.skipTest("mounting a small tmpfs needs root")
        try:
            out = self.path("full")
            flags = DATA + ["--checkpoint-dir", disk, "--checkpoint-every", "20"]
            self.train("full", flags + ["--max-steps", "20"], ranks=2)
            # Shrink the file system to what the first checkpoint uses plus one page: the next
            # checkpoint runs out of space part way through.
            stats = os.statvfs(disk)
            used_kib = (stats.f_blocks - stats.f_bfree) * stats.f_frsize // 1024
            subprocess.run(["mount", "-o", f"remount,size={used_kib + 4}k", disk], check=True)
            result = run(["train", "--output-dir", out, "--progress", "off", "--threads", "1",
                          "--max-steps", "40"] + flags, ranks=2)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("checkpoint at step 40 not written, training goes on", result.stderr)
            self.assertIn("No space left on device", result.stderr)
            self.assertEqual(os.listdir(disk), ["step-000000020"])  # intact, no partial left
            self.assertEqual(self.summary(out)["checkpoint_failures"], 1)
            self.assertEqual(self.summary(out)["steps"], 40)
            subprocess.run(["mount", "-o", "remount,size=1m", disk], check=True)
            self.train("full", flags + ["--max-steps", "40"], ranks=2)  # space again
            self.assertEqual(self.summary(out)["resumed_at_step"], 20)
        finally:
            subprocess.run(["umount", disk], capture_output=True)

    def test_resume_from_a_named_checkpoint_that_is_broken_fails(self):
        out = self.path("named")
        self.train("named", DATA + ["--max-steps", "20", "--checkpoint-every", "20"])
        checkpoint = checkpoints(os.path.join(out, "checkpoints"))[0]
        os.truncate(os.path.join(checkpoint, "model.safetensors"), 10)
        result = run(["train", "--output-dir", out, "--progress", "off", "--resume", checkpoint] + DATA)
        self.assertEqual(result.returncode, 2)
        self.assertIn("model.safetensors has 10 bytes", result.stderr)


if __name__ == "__main__":
    unittest.main()
