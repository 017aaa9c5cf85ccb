import unittest

import logic


class AnswerTest(unittest.TestCase):
    def test_the_answer_names_the_request(self):
        self.assertEqual(
            logic.answer("hi", "demo", "GET", "/prod/hello"),
            "hi from demo: GET /prod/hello\n",
        )


if __name__ == "__main__":
    unittest.main()
