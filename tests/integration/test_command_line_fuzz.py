"""A short seeded round of command_line_fuzz: random command lines of every command over small
good and bad files end with exit 0, or exit 2 and an error line, never a stack trace or a hang."""
import unittest

from command_line_fuzz import fuzz
from ringtrain_testing import RingtrainTestCase

ROUNDS = 60


class CommandLineFuzz(RingtrainTestCase):
    def test_no_command_line_reaches_a_stack_trace(self):
        problems = fuzz(self.dir, seed=20261205, rounds=ROUNDS)
        self.assertEqual(problems, [], "\n".join(f"{' '.join(args)}\n  -> {problem}" for args, problem in problems))


if __name__ == "__main__":
    unittest.main()
