"""Training from streams (SageMaker Pipe mode): one FIFO per epoch, read on each host by one rank
that deals the samples to the others, the end of each epoch agreed by all ranks."""
import glob
import os
import subprocess
import unittest

import numpy as np

from ringtrain_testing import BIN, MPIRUN, RingtrainTestCase, run


class Streaming(RingtrainTestCase):
    def setUp(self):
        super().setUp()
        self.writers = []

    def tearDown(self):
        for writer in self.writers:
            writer.kill()
            writer.wait()
        super().tearDown()

    def data_set(self, name, rows, seed, shard_size="8K"):
        rng = np.random.default_rng(seed)
        features = rng.normal(size=(rows, 7)).astype(np.float32)
        labels = (features[:, 0] + features[:, 3] > 0).astype(np.int64)
        np.save(self.path(name + "-x.npy"), features)
        np.save(self.path(name + "-y.npy"), labels)
        result = run(["prep", "--input", self.path(name + "-x.npy"), "--labels", self.path(name + "-y.npy"),
                      "--output", self.path(name), "--shard-size", shard_size, "--num-classes", "2"])
        self.assertEqual(result.returncode, 0, result.stderr)
        return self.path(name)

    def stream(self, fifo, files):
        """Writes `files` into the FIFO `fifo`, as Pipe mode does with the objects of a prefix."""
        os.mkfifo(fifo)
        self.writers.append(subprocess.Popen(["sh", "-c", 'cat "$@" > "$0"', fifo] + files))

    def test_a_stream_trains_exactly_like_its_data_set_read_in_order(self):
        ranks, batch, epochs = 2, 25, 2
        train = self.data_set("train", 800, 1)  # 800 = 16 steps of 2 ranks x 25
        val = self.data_set("val", 100, 2)
        shards = sorted(glob.glob(os.path.join(train, "*.rtshard")))
        self.assertGreater(len(shards), 2)
        index = os.path.join(train, "index.json")
        # index.json sorts before the shards in an S3 prefix; ringtrain skips it wherever it is.
        self.stream(self.path("channel_0"), [index] + shards)
        self.stream(self.path("channel_1"), shards + [index])
        # A stream arrives as stored, so the data set read in order is not standardised either.
        common = ["--val", val, "--batch-size", batch, "--epochs", epochs, "--hidden", "16",
                  "--normalize", "none"]
        streamed = self.train("streamed", ["--train", "pipe:" + self.path("channel")] + common, ranks=ranks)
        in_order = self.train("in-order", ["--train", train, "--no-shuffle"] + common, ranks=ranks)
        self.assertEqual(self.summary(streamed)["steps"], epochs * 800 // (ranks * batch))
        first, second = self.model(streamed), self.model(in_order)
        for name in first:
            np.testing.assert_array_equal(first[name], second[name], err_msg=name)

    def test_hosts_stream_their_own_data_and_agree_where_each_epoch_ends(self):
        sizes = {"a": 620, "b": 410}
        batch, local_ranks = 20, 2
        val = self.data_set("val", 100, 3)
        contexts = []
        for number, (host, rows) in enumerate(sizes.items()):
            data = self.data_set("data-" + host, rows, 10 + number)
            self.stream(self.path(f"{host}_0"), sorted(glob.glob(os.path.join(data, "*.rtshard"))))
            contexts += [":"] if contexts else []
            contexts += ["-np", str(local_ranks), "-x", f"RINGTRAIN_HOST={host}", BIN, "train", "--output-dir",
                         self.path("out"), "--progress", "off", "--threads", "1", "--val", val, "--epochs", "1",
                         "--batch-size", str(batch), "--train", "pipe:" + self.path(host)]
        job = subprocess.run([MPIRUN, "--oversubscribe", "--bind-to", "none"] + contexts, capture_output=True,
                             text=True, timeout=300)
        self.assertEqual(job.returncode, 0, job.stdout + job.stderr)
        # A step goes ahead while every rank of every host got at least one sample for it.
        def steps(rows):
            full, rest = divmod(rows, local_ranks * batch)
            return full + (1 if rest >= local_ranks else 0)
        self.assertEqual(self.summary(self.path("out"))["steps"], min(steps(r) for r in sizes.values()))

    def test_a_truncated_or_mismatched_stream_fails_the_job_naming_it(self):
        train = self.data_set("train", 400, 4)
        val = self.data_set("val", 50, 5)
        shards = sorted(glob.glob(os.path.join(train, "*.rtshard")))
        with open(shards[0], "rb") as f:
            head = f.read(6000)
        with open(self.path("cut.bin"), "wb") as f:
            f.write(head)
        self.stream(self.path("cut_0"), [self.path("cut.bin")])
        result = run(["train", "--train", "pipe:" + self.path("cut"), "--val", val, "--output-dir", self.path("o1"),
                      "--threads", "1"], ranks=2, timeout=120)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(f"{self.path('cut_0')} ended 6000 bytes in, inside a shard (truncated stream?)", result.stderr)

        np.save(self.path("wide.npy"), np.zeros((30, 9), np.float32))
        self.assertEqual(run(["prep", "--input", self.path("wide.npy"), "--output", self.path("wide")]).returncode, 0)
        self.stream(self.path("wide_0"), [self.path("wide", "shard-000000.rtshard")])
        result = run(["train", "--train", "pipe:" + self.path("wide"), "--val", val, "--output-dir", self.path("o2"),
                      "--threads", "1"], timeout=120)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"{self.path('wide_0')} holds samples of shape 9, but the model takes 7", result.stderr)

        result = run(["train", "--train", "pipe:" + self.path("x"), "--output-dir", self.path("o3")])
        self.assertEqual(result.returncode, 2)
        self.assertIn("is a stream, which cannot be split and does not say the shape of its samples", result.stderr)


if __name__ == "__main__":
    unittest.main()
