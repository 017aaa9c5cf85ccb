import unittest

import logic


class ReplyTest(unittest.TestCase):
    def test_messages_are_echoed(self):
        self.assertEqual(logic.reply(True, b"hi"), b"hi")
        self.assertIsNone(logic.reply(False, b""))


if __name__ == "__main__":
    unittest.main()
