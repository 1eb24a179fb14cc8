"""`ringtrain shard-plan` against torch.utils.data.DistributedSampler itself."""
import itertools
import json
import random
import unittest

from torch.utils.data import DistributedSampler

from ringtrain_testing import run


def pytorch_plan(size, world, epoch, seed, shuffle, drop_last):
    ranks = []
    for rank in range(world):
        sampler = DistributedSampler(range(size), num_replicas=world, rank=rank, shuffle=shuffle,
                                     seed=seed, drop_last=drop_last)
        sampler.set_epoch(epoch)
        ranks.append(list(sampler))
    return ranks


class SamplerMatchesPyTorch(unittest.TestCase):
    def test_many_parameter_combinations(self):
        grid = list(itertools.product([1, 2, 5, 10, 17, 64, 1001], [1, 2, 3, 4, 7], [0, 3],
                                      [0, 45, 2**40 + 7], [True, False], [True, False]))
        edge_cases = [(1, 4, 0, 0, True, False), (3, 8, 1, 5, True, True), (0, 2, 0, 0, True, False)]
        cases = edge_cases + random.Random(2026).sample(grid, 45)
        for size, world, epoch, seed, shuffle, drop_last in cases:
            with self.subTest(size=size, world=world, epoch=epoch, seed=seed, shuffle=shuffle,
                              drop_last=drop_last):
                args = ["shard-plan", "--size", size, "--world", world, "--epoch", epoch, "--seed", seed]
                args += [] if shuffle else ["--no-shuffle"]
                args += ["--drop-last"] if drop_last else []
                result = run(args)
                self.assertEqual(result.returncode, 0, result.stderr)
                plan = json.loads(result.stdout)
                expected = pytorch_plan(size, world, epoch, seed, shuffle, drop_last)
                self.assertEqual(plan["ranks"], expected)
                self.assertEqual(plan["samples_per_rank"], len(expected[0]))


if __name__ == "__main__":
    unittest.main()
