"""Training on data sets made by `ringtrain prep`: the same weights as from the files they were
made from, whatever the number of data workers; a data set larger than the memory the job may
use; each host dealing its own files; and the bad shards a run can meet."""
import glob
import math
import os
import shutil
import subprocess
import unittest

import numpy as np

from ringtrain_testing import BIN, MPIRUN, RingtrainTestCase, run, write_csv, write_idx

MEMORY_CGROUPS = "/sys/fs/cgroup/memory"



def evict_from_page_cache(directory):
    for path in glob.glob(os.path.join(directory, "*.rtshard")):
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


class ShardedTraining(RingtrainTestCase):
    def prep(self, *args):
        result = run(["prep", "--progress", "off"] + [str(a) for a in args])
        self.assertEqual(result.returncode, 0, result.stderr)

    def table(self, name, rows, seed):
        rng = np.random.default_rng(seed)
        features = rng.normal(size=(rows, 6)).astype(np.float32)
        labels = (features[:, 0] + features[:, 1] > 0).astype(int) + 2 * (features[:, 2] > 0.5)
        write_csv(self.path(name + ".csv"), labels, features)
        self.prep("--input", self.path(name + ".csv"), "--output", self.path(name), "--shard-size", "4K",
                  "--overwrite")

    def assertSameModel(self, a, b):
        first, second = self.model(a), self.model(b)
        self.assertEqual(sorted(first), sorted(second))
        for name in first:
            np.testing.assert_array_equal(first[name], second[name], err_msg=name)

    def test_shards_train_exactly_like_the_files_they_were_made_from(self):
        self.table("train", 700, 1)
        self.table("val", 150, 2)
        common = ["--normalize", "none", "--epochs", "2", "--batch-size", "16", "--hidden", "24"]
        from_files = self.train("files", ["--train", self.path("train.csv"), "--val", self.path("val.csv")] + common,
                                ranks=2)
        from_shards = self.train("shards", ["--train", self.path("train"), "--val", "shards:" + self.path("val")]
                                 + common, ranks=2)
        self.assertSameModel(from_files, from_shards)
        self.assertEqual(self.summary(from_files)["val_loss"], self.summary(from_shards)["val_loss"])

        rng = np.random.default_rng(3)
        os.mkdir(self.path("digits"))
        for prefix, count in (("train", 300), ("t10k", 60)):
            write_idx(self.path("digits", f"{prefix}-images-idx3-ubyte"), rng.integers(0, 256, size=(count, 8, 8)))
            write_idx(self.path("digits", f"{prefix}-labels-idx1-ubyte"), rng.integers(0, 10, size=count))
        self.prep("--input", self.path("digits"), "--output", self.path("digits-train"))
        self.prep("--input", self.path("digits"), "--split", "test", "--output", self.path("digits-test"))
        cnn = ["--model", "cnn", "--epochs", "1", "--batch-size", "20"]
        from_idx = self.train("idx", ["--train", self.path("digits"), "--val", self.path("digits")] + cnn)
        from_shards = self.train("idx-shards", ["--train", self.path("digits-train"),
                                                "--val", self.path("digits-test")] + cnn)
        self.assertSameModel(from_idx, from_shards)

    def test_validation_shards_are_standardised_with_the_training_statistics(self):
        rng = np.random.default_rng(8)
        train = rng.normal(size=(600, 6)).astype(np.float32)
        shifted = (rng.normal(size=(200, 6)) + 1.5).astype(np.float32)  # unlike the training set
        for name, features in (("train", train), ("val", shifted)):
            labels = (features[:, 0] > features[:, 1]).astype(int)
            write_csv(self.path(name + ".csv"), labels, features)
            self.prep("--input", self.path(name + ".csv"), "--output", self.path(name))
        common = ["--epochs", "2", "--batch-size", "16", "--hidden", "24"]  # --normalize auto
        from_files = self.train("files", ["--train", self.path("train.csv"), "--val", self.path("val.csv")] + common)
        from_shards = self.train("shards", ["--train", self.path("train"), "--val", self.path("val")] + common)
        # Statistics from float32 sums in memory and from prep's float64 ones: close, not equal.
        self.assertModelsClose(self.model(from_files), self.model(from_shards), rtol=1e-3, atol=1e-4)
        self.assertAlmostEqual(self.summary(from_files)["val_loss"], self.summary(from_shards)["val_loss"], places=3)

    def test_the_number_of_data_workers_does_not_change_the_weights(self):
        self.table("train", 900, 4)
        common = ["--train", self.path("train"), "--epochs", "2", "--batch-size", "8", "--grad-accum", "2"]
        reference = self.train("workers-0", common + ["--data-workers", "0"], ranks=2)
        self.assertEqual(self.summary(reference)["data_workers"], 0)
        for workers in (1, 4):
            out = self.train(f"workers-{workers}", common + ["--data-workers", str(workers)], ranks=2)
            self.assertEqual(self.summary(out)["data_workers"], workers)
            self.assertSameModel(reference, out)

    def test_a_data_set_larger_than_the_memory_limit_is_read_through_the_page_cache(self):
        if not os.access(MEMORY_CGROUPS, os.W_OK):
            self.skipTest("no writable memory cgroup")
        group = os.path.join(MEMORY_CGROUPS, f"ringtrain-test-{os.getpid()}")
        os.mkdir(group)
        self.addCleanup(lambda: os.path.isdir(group) and os.rmdir(group))
        limit = 400 << 20
        samples, width = 600_000, 1024
        rng = np.random.default_rng(5)
        np.save(self.path("x.npy"), rng.integers(0, 256, size=(samples, width), dtype=np.uint8))
        np.save(self.path("y.npy"), rng.integers(0, 10, size=samples))
        self.prep("--input", self.path("x.npy"), "--labels", self.path("y.npy"), "--output", self.path("big"))
        os.remove(self.path("x.npy"))
        data_bytes = sum(os.path.getsize(p) for p in glob.glob(self.path("big", "*.rtshard")))
        self.assertGreater(data_bytes, limit * 1.4)
        # Pages already cached are charged to whoever read them first: start cold.
        evict_from_page_cache(self.path("big"))
        with open(os.path.join(group, "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit))
        # Where swap is accounted, memory and swap together: nothing may escape to swap.
        if os.path.exists(os.path.join(group, "memory.memsw.limit_in_bytes")):
            with open(os.path.join(group, "memory.memsw.limit_in_bytes"), "w") as f:
                f.write(str(limit))
        out = self.path("limited")
        job = subprocess.run(
            ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh", BIN, "train", "--train", self.path("big"),
             "--val-fraction", "0.01", "--epochs", "1", "--hidden", "16", "--batch-size", "2000", "--threads", "1",
             "--progress", "off", "--output-dir", out],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(job.returncode, 0, job.stdout + job.stderr)
        with open(os.path.join(group, "memory.max_usage_in_bytes")) as f:
            self.assertLessEqual(int(f.read()), limit)
        summary = self.summary(out)
        train_samples = samples - math.ceil(0.01 * samples)
        self.assertEqual(summary["train_samples"], train_samples)
        self.assertEqual(summary["steps"], math.ceil(train_samples / 2000))

    def test_each_host_deals_its_own_files_and_the_hosts_agree_on_the_steps(self):
        # Host "a" received three files, host "b" one: a and b each run 2 ranks.
        files = {"a": 3, "b": 1}
        per_file = 200
        self.table("all", per_file * 4, 6)
        for host in files:
            os.mkdir(self.path(host))
        # One data set in four files of 200 samples (of 6 float32 features) each.
        self.prep("--input", self.path("all.csv"), "--output", self.path("split"), "--shard-size",
                  str(per_file * 6 * 4))
        shards = sorted(glob.glob(self.path("split", "*.rtshard")))
        self.assertEqual(len(shards), 4)
        for number, shard in enumerate(shards):
            shutil.copy(shard, self.path("a" if number < 3 else "b"))
        batch, epochs, local_ranks = 10, 2, 2
        out = self.path("hosts")
        args = ["train", "--output-dir", out, "--progress", "off", "--threads", "1", "--data-sharding", "host",
                "--batch-size", str(batch), "--epochs", str(epochs), "--normalize", "none", "--val-fraction", "0.2"]
        contexts = []
        for host in files:
            contexts += [":"] if contexts else []
            contexts += ["-np", str(local_ranks), "-x", f"RINGTRAIN_HOST={host}", BIN] + args + ["--train", self.path(host)]
        job = subprocess.run([MPIRUN, "--oversubscribe", "--bind-to", "none"] + contexts, capture_output=True,
                             text=True, timeout=300)
        self.assertEqual(job.returncode, 0, job.stdout + job.stderr)
        # Each host's ranks share its training split; the host with the fewest steps sets the epoch.
        steps = []
        for host, count in files.items():
            train_samples = count * per_file - math.ceil(0.2 * count * per_file)
            steps.append(math.ceil(math.ceil(train_samples / local_ranks) / batch))
        self.assertEqual(self.summary(out)["steps"], epochs * min(steps))
        self.assertIn("on this host (data sharded by host)", job.stdout)

        # Positions inside an epoch count one host's ranks: hosts must have as many.
        uneven = list(contexts)
        uneven[uneven.index(str(local_ranks), uneven.index(":"))] = "1"
        job = subprocess.run([MPIRUN, "--oversubscribe", "--bind-to", "none"] + uneven, capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(job.returncode, 2, job.stdout + job.stderr)
        self.assertIn("--data-sharding host needs the same number of ranks on every host; they have between 1 "
                      "and 2", job.stderr)

        os.mkdir(self.path("empty"))
        contexts[-1] = self.path("empty")
        job = subprocess.run([MPIRUN, "--oversubscribe", "--bind-to", "none"] + contexts, capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(job.returncode, 2, job.stdout + job.stderr)
        self.assertIn(f"ringtrain train: error: {self.path('empty')}: directory holds no", job.stderr)

    def test_bad_shards_fail_the_run_with_the_file_named(self):
        self.table("train", 300, 7)
        shard = self.path("train", "shard-000001.rtshard")
        with open(shard, "r+b") as f:
            f.truncate(5000)
        result = run(["train", "--train", self.path("train"), "--output-dir", self.path("out")], ranks=2)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"{shard} has 5000 bytes, its header promises", result.stderr)

        self.table("train", 300, 7)
        np.save(self.path("other.npy"), np.zeros((10, 3, 2), np.float32))
        self.prep("--input", self.path("other.npy"), "--output", self.path("other"))
        shutil.copy(self.path("other", "shard-000000.rtshard"), shard)
        result = run(["train", "--train", self.path("train"), "--output-dir", self.path("out")])
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"{shard} holds samples of shape 3x2, but {self.path('train', 'index.json')} has 6",
                      result.stderr)

        self.table("train", 300, 7)
        index = self.path("train", "index.json")
        with open(index) as f:
            text = f.read()
        with open(index, "w") as f:
            f.write(text.replace('"count": 300', '"count": 299'))
        result = run(["train", "--train", self.path("train"), "--output-dir", self.path("out")], ranks=2)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"{index} fails its checksum (corrupt or edited)", result.stderr)

        self.table("train", 300, 7)
        result = run(["train", "--train", self.path("train"), "--val", self.path("other"),
                      "--output-dir", self.path("out")])
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("has samples of shape 3x2 but --train", result.stderr)


if __name__ == "__main__":
    unittest.main()
