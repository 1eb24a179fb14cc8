"""`ringtrain pipeline-plan`: the schedules as the runtime would run them, with the checker's
figures, against the formulas."""
import json
import unittest

from ringtrain_testing import RingtrainTestCase, run


class PipelinePlan(RingtrainTestCase):
    def plan(self, *args):
        result = run(["pipeline-plan"] + list(args))
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def test_bubble_and_activations_follow_the_formulas(self):
        for stages, micro_batches in ((2, 1), (4, 16), (3, 7)):
            theory = (stages - 1) / (micro_batches + stages - 1)
            for schedule in ("gpipe", "1f1b"):
                with self.subTest(stages=stages, micro_batches=micro_batches, schedule=schedule):
                    plan = self.plan("--pipeline-stages", stages, "--micro-batches", micro_batches,
                                     "--schedule", schedule)
                    self.assertTrue(plan["sound"], plan["problems"])
                    self.assertAlmostEqual(plan["bubble"], theory, places=12)
                    self.assertAlmostEqual(plan["bubble_theory"], theory, places=12)
                    held = [micro_batches] * stages if schedule == "gpipe" else \
                        [min(stages - s, micro_batches) for s in range(stages)]
                    self.assertEqual(plan["max_in_flight"], held)
                    self.assertEqual(len(plan["actions"]), stages)
                    for actions in plan["actions"]:
                        for m in range(micro_batches):
                            self.assertLess(actions.index(f"F{m}"), actions.index(f"B{m}"))

    def test_bad_flags_name_the_flag(self):
        for args, message in ((["--schedule", "zb"], "--schedule must be gpipe or 1f1b"),
                              (["--pipeline-stages", "0"], "--pipeline-stages must be between"),
                              (["--micro-batches", "x"], "--micro-batches")):
            with self.subTest(args=args):
                result = run(["pipeline-plan"] + args)
                self.assertEqual(result.returncode, 2)
                self.assertIn(message, result.stderr)


if __name__ == "__main__":
    unittest.main()
