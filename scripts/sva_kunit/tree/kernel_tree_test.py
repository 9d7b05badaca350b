import glob
import os
import tempfile
import unittest
from unittest import mock

from ..errors import SetupError
from ..testing_support import make_fake_tree, snapshot, write
from . import kernel_tree
from .kernel_sources import default_cache_dir

# Real trees to check REQUIREMENTS against: $SVA_KUNIT_TEST_TREES (paths
# separated by ':'), and every linux-source tree in the cache.
REAL_TREES_ENV = 'SVA_KUNIT_TEST_TREES'


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
                      'init/main.c)', message)

    def test_tree_without_kunit_py(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'),
                              kunit_py=False)
        self.assertIn('has no tools/testing/kunit/kunit.py', self.error(tree))

    def test_pre_6_8_tree(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'),
                              mm_data=False)
        before = snapshot(tree)
        message = self.error(tree)
        self.assertTrue(message.startswith(
            f'sva-kunit: error: {tree}: the tree lacks what the suite needs: '
            'struct iommu_mm_data (v6.8, SVA domains per mm) in '
            'include/linux/iommu.h; iommu_ops.domain_alloc_sva (v6.8) in '
            'include/linux/iommu.h; '), message)
        self.assertTrue(message.endswith('; use a v6.11 or later kernel '
                                         'tree'), message)
        self.assertEqual(len(message.splitlines()), 1)
        self.assertEqual(snapshot(tree), before)

    def test_each_missing_item_is_named(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'))
        write(tree, 'kernel/fork.c', b'struct mm_struct *mm_alloc(void)\n')
        os.unlink(os.path.join(tree, 'include/kunit/test.h'))
        self.assertEqual(self.error(tree), f'sva-kunit: error: {tree}: the '
                         'tree lacks what the suite needs: kunit_vm_mmap() '
                         '(v6.11) in include/kunit/test.h; mm_alloc() '
                         'exported for KUnit (v6.11, with kunit_vm_mmap) in '
                         'kernel/fork.c; use a v6.11 or later kernel tree')

    def test_three_argument_fwspec_init_is_refused(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'))
        write(tree, 'include/linux/iommu.h', kernel_tree_text(tree).replace(
            b'struct fwnode_handle *iommu_fwnode);',
            b'struct fwnode_handle *iommu_fwnode,\n\t\t      const struct '
            b'iommu_ops *ops);'))
        self.assertEqual(self.error(tree), f'sva-kunit: error: {tree}: the '
                         'tree lacks what the suite needs: two-argument '
                         'iommu_fwspec_init() (v6.11, "iommu: Resolve fwspec '
                         'ops automatically") in include/linux/iommu.h; use '
                         'a v6.11 or later kernel tree')

    def test_either_file_may_hold_an_item(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'))
        os.unlink(os.path.join(tree, 'drivers/iommu/iommu-priv.h'))
        self.assertIn('iommu_attach_handle_get() (v6.11, attach handles) in '
                      'include/linux/iommu.h or drivers/iommu/iommu-priv.h',
                      self.error(tree))
        write(tree, 'include/linux/iommu.h', kernel_tree_text(tree) +
              b'struct iommu_attach_handle *iommu_attach_handle_get(\n'
              b'\tstruct iommu_group *group, ioasid_t pasid, unsigned int '
              b'type);\n')
        self.assertEqual(kernel_tree.validate_tree(tree), tree)

    def test_real_trees_meet_every_requirement(self):
        trees = [t for t in os.environ.get(REAL_TREES_ENV, '').split(':')
                 if t]
        trees += glob.glob(os.path.join(default_cache_dir(), 'trees',
                                        'linux-source-*'))
        trees = [t for t in trees if os.path.isfile(
            os.path.join(t, 'include/linux/iommu.h'))]
        if not trees:
            self.skipTest(f'no real tree (set {REAL_TREES_ENV})')
        for tree in trees:
            with self.subTest(tree=tree):
                self.assertEqual(kernel_tree.validate_tree(tree),
                                 os.path.abspath(tree))

    def test_missing_iommu_header(self):
        tree = make_fake_tree(os.path.join(self.root, 'linux'))
        os.unlink(os.path.join(tree, 'include/linux/iommu.h'))
        self.assertIn('has no IOMMU core (no include/linux/iommu.h)',
                      self.error(tree))


def kernel_tree_text(tree: str) -> bytes:
    with open(os.path.join(tree, 'include/linux/iommu.h'), 'rb') as f:
        return f.read()


class HostToolsTest(unittest.TestCase):

    def test_all_present(self):
        with mock.patch('shutil.which', lambda tool: '/usr/bin/' + tool):
            kernel_tree.require_host_tools()

    def test_missing_tools_named_with_apt_command(self):
        def which(tool):
            return None if tool in ('flex', 'bc') else '/usr/bin/' + tool
        with self.assertRaises(SetupError) as cm, \
                mock.patch('shutil.which', which):
            kernel_tree.require_host_tools()
        self.assertEqual(cm.exception.one_line(), 'sva-kunit: error: missing '
                         'host tools: flex, bc; install them with: sudo '
                         'apt-get install -y flex bc')


if __name__ == '__main__':
    unittest.main()
