import os
import tempfile
import unittest

from . import kernel_tree
from .errors import SetupError
from .testing_support import make_fake_tree, snapshot


class ValidateTreeTest(unittest.TestCase):

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.root = self._tmp.name

    def error(self, tree: str) -> str:
        with self.assertRaises(SetupError) as cm:
            kernel_tree.validate_tree(tree)
        return cm.exception.one_line()

    def test_good_tree(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'))
        self.assertEqual(kernel_tree.validate_tree(tree), tree)

    def test_not_a_directory(self):
        path = os.path.join(self.root, 'nope')
        self.assertEqual(self.error(path), f'sva-kunit: error: {path} is not '
                         'a directory; pass --kernel=<top directory of a '
                         'Linux source tree>')

    def test_not_a_kernel_tree(self):
        message = self.error(self.root)
        self.assertTrue(message.startswith('sva-kunit: error: '))
        self.assertIn('is not a kernel tree (no Makefile, Kconfig, '
                      'drivers/iommu/iommu.c)', message)

    def test_tree_without_kunit_py(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'),
                              kunit_py=False)
        self.assertIn('has no tools/testing/kunit/kunit.py', self.error(tree))

    def test_pre_6_8_tree(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'),
                              mm_data=False)
        before = snapshot(tree)
        self.assertEqual(self.error(tree), f'sva-kunit: error: {tree}: tree '
                         'is older than v6.8 (no struct iommu_mm_data); the '
                         'suite needs v6.8 or later')
        self.assertEqual(snapshot(tree), before)

    def test_missing_iommu_header(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'))
        os.unlink(os.path.join(tree, 'include/linux/iommu.h'))
        self.assertIn('is not a kernel tree (no include/linux/iommu.h)',
                      self.error(tree))


class HostToolsTest(unittest.TestCase):

    def test_all_present(self):
        kernel_tree.require_host_tools(lambda tool: '/usr/bin/' + tool)

    def test_missing_tools_named_with_apt_command(self):
        def which(tool):
            return None if tool in ('flex', 'bc') else '/usr/bin/' + tool
        with self.assertRaises(SetupError) as cm:
            kernel_tree.require_host_tools(which)
        self.assertEqual(cm.exception.one_line(), 'sva-kunit: error: missing '
                         'host tools: flex, bc; install them with: sudo '
                         'apt-get install -y flex bc')


if __name__ == '__main__':
    unittest.main()
