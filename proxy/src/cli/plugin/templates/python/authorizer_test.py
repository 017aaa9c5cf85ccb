import unittest

import logic


class DecideTest(unittest.TestCase):
    def test_the_configured_token_is_allowed(self):
        self.assertEqual(logic.decide("s3cret", "s3cret"), "allow")

    def test_another_token_is_denied_and_none_is_unauthorized(self):
        self.assertEqual(logic.decide("guess", "s3cret"), "deny")
        self.assertEqual(logic.decide(None, "s3cret"), "unauthorized")
        self.assertEqual(logic.decide("", "s3cret"), "unauthorized")

    def test_the_policy_covers_the_stage(self):
        arn = "arn:aws:execute-api:us-east-1:000000000000:demo/prod/GET/hello"
        self.assertEqual(
            logic.stage_pattern(arn), "arn:aws:execute-api:us-east-1:000000000000:demo/prod/*"
        )


if __name__ == "__main__":
    unittest.main()
