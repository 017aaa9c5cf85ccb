import unittest

import logic


class HeaderEditsTest(unittest.TestCase):
    def test_the_header_is_set_to_the_plugin_name(self):
        self.assertEqual(logic.header_edits("me"), [("x-mapped-by", ["me"])])


if __name__ == "__main__":
    unittest.main()
