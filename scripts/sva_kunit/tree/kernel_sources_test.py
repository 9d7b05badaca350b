import argparse
import unittest

from ..errors import SetupError
from . import kernel_sources


class KernelSourcesTest(unittest.TestCase):

    def test_table(self):
        self.assertEqual(kernel_sources.DEFAULT_SOURCE, '7.3')
        source = kernel_sources.get_source('7.3')
        self.assertEqual((source.package, source.suite),
                         ('linux-source-7.3', 'trixie-backports'))
        self.assertEqual(kernel_sources.get_source('7.2').suite, 'sid')
        self.assertEqual(kernel_sources.get_source('6.12').suite, '')

    def test_unknown_version(self):
        with self.assertRaises(argparse.ArgumentTypeError):
            kernel_sources.source_version('6.1')
        with self.assertRaises(SetupError) as cm:
            kernel_sources.get_source('6.1')
        self.assertEqual(cm.exception.one_line(), 'sva-kunit: error: '
                         '--source=6.1 is not supported (supported: 7.3, '
                         '6.12, 7.2); pick one of those, or pass '
                         '--kernel=DIR')


if __name__ == '__main__':
    unittest.main()
