import os
import tempfile
import unittest

from ..testing_support import make_fake_repo, write
from . import payload


class PayloadTest(unittest.TestCase):

    def test_walks_drivers_and_tools_skipping_junk(self):
        with tempfile.TemporaryDirectory() as repo:
            make_fake_repo(repo)
            for rel in ('drivers/iommu/.iommu-sva-test.c.swp',
                        'drivers/iommu/iommu-sva-test.c~',
                        'drivers/iommu/__pycache__/x.pyc',
                        'drivers/iommu/fake-iommu/fake-iommu.o',
                        'drivers/iommu/fake-iommu/.fake-iommu.o.cmd',
                        'scripts/not-payload.c', 'README'):
                write(repo, rel, b'junk')
            write(repo, 'tools/testing/kunit/x.sh', b'#!/bin/sh\n', 0o755)
            os.symlink('x.sh', os.path.join(repo, 'tools/testing/kunit/l'))
            found = payload.collect_payload(repo)
        self.assertEqual(sorted(found), [
            'drivers/iommu/.kunitconfig',
            'drivers/iommu/fake-iommu/Kconfig',
            'drivers/iommu/fake-iommu/Makefile',
            'drivers/iommu/fake-iommu/fake-iommu.c',
            'drivers/iommu/fake-iommu/fake-iommu.h',
            'drivers/iommu/iommu-sva-test.c',
            'tools/testing/kunit/configs/iommu_sva.config',
            'tools/testing/kunit/x.sh'])
        self.assertEqual(found['tools/testing/kunit/x.sh'].mode, 0o755)
        self.assertEqual(found['drivers/iommu/.kunitconfig'].data,
                         b'CONFIG_KUNIT=y\n')

    def test_default_repo_root_is_this_checkout(self):
        root = payload.default_repo_root()
        self.assertTrue(os.path.isfile(os.path.join(root, 'scripts',
                                                    'sva-kunit')))


if __name__ == '__main__':
    unittest.main()
