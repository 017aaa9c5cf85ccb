import unittest
from types import SimpleNamespace

import logic


class MarkedTest(unittest.TestCase):
    def test_the_header_is_set_once(self):
        headers = [
            SimpleNamespace(name="accept", values=["*/*"]),
            SimpleNamespace(name="x-mapped-by", values=["someone-else"]),
        ]
        self.assertEqual(
            logic.marked(headers, "me"),
            [("accept", ["*/*"]), ("x-mapped-by", ["me"])],
        )


if __name__ == "__main__":
    unittest.main()
