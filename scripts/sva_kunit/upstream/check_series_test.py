import os
import tempfile
import unittest

from ..testing_support import git
from . import check_series



class KunitconfigAtTest(unittest.TestCase):

    def test_only_the_options_a_revision_defines(self):
        with tempfile.TemporaryDirectory() as tree:
            os.makedirs(os.path.join(tree, 'lib'))
            with open(os.path.join(tree, 'lib', 'Kconfig.debug'), 'w') as f:
                f.write('config KUNIT\n\tbool\n\nmenuconfig KASAN\n\tbool\n')
            git(tree, 'init', '-q')
            git(tree, 'add', '-A')
            git(tree, 'commit', '-q', '-m', 'base')
            final = ('CONFIG_KUNIT=y\n# comment\nCONFIG_KASAN=y\n'
                     'CONFIG_IOMMU_SVA_KUNIT_TEST=y\n')
            self.assertEqual(check_series.kunitconfig_at(tree, 'HEAD', final),
                             'CONFIG_KUNIT=y\nCONFIG_KASAN=y\n')
            with open(os.path.join(tree, 'Kconfig'), 'w') as f:
                f.write('config FAKE_IOMMU\n\ttristate "f"\n'
                        'config IOMMU_SVA_KUNIT_TEST_X\n\tbool\n')
            git(tree, 'add', '-A')
            git(tree, 'commit', '-q', '-m', 'driver')
            # IOMMU_SVA_KUNIT_TEST_X is not IOMMU_SVA_KUNIT_TEST.
            self.assertEqual(check_series.kunitconfig_at(tree, 'HEAD', final),
                             'CONFIG_KUNIT=y\nCONFIG_KASAN=y\n'
                             'CONFIG_FAKE_IOMMU=y\n')


class CheckpatchVerdictTest(unittest.TestCase):

    def test_clean_needs_no_warning_and_no_check(self):
        self.assertTrue(check_series.CHECKPATCH_CLEAN.search(
            'x\ntotal: 0 errors, 0 warnings, 0 checks, 19 lines checked\n'))
        for line in ('total: 0 errors, 1 warnings, 0 checks, 19 lines',
                     'total: 0 errors, 0 warnings, 2 checks, 19 lines'):
            self.assertFalse(check_series.CHECKPATCH_CLEAN.search(line))


if __name__ == '__main__':
    unittest.main()
