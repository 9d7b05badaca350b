import io
import os
import subprocess
import tarfile
import tempfile
import unittest
from unittest import mock

from ..errors import SetupError
from . import source_cache

PKG = 'linux-source-6.12'


class SourceCacheTest(unittest.TestCase):

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.cache = os.path.join(self._tmp.name, 'cache')
        self.tarball = os.path.join(self._tmp.name, 'linux-source-6.12.tar.xz')
        with tarfile.open(self.tarball, 'w:xz') as tar:
            data = b'VERSION = 6\n'
            info = tarfile.TarInfo('linux-source-6.12/Makefile')
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    def test_default_cache_dir(self):
        self.assertEqual(source_cache.default_cache_dir(
            {'SVA_KUNIT_CACHE': '/x/y'}), '/x/y')
        self.assertTrue(source_cache.default_cache_dir({}).endswith(
            os.path.join('.cache', 'sva-kunit')))

    def test_extracts_once_per_version(self):
        out = io.StringIO()
        tree = source_cache.ensure_tree(self.cache, PKG, '6.12.117-1~deb12u1',
                                        out, self.tarball)
        self.assertEqual(os.path.basename(tree),
                         'linux-source-6.12_6.12.117-1_deb12u1')
        self.assertTrue(os.path.isfile(os.path.join(tree, 'Makefile')))
        with mock.patch('subprocess.run') as run:
            again = source_cache.ensure_tree(self.cache, PKG,
                                             '6.12.117-1~deb12u1', out,
                                             self.tarball)
        self.assertEqual(again, tree)
        run.assert_not_called()
        other = source_cache.ensure_tree(self.cache, PKG, '6.12.118-1', out,
                                         self.tarball)
        self.assertNotEqual(other, tree)
        # Only finished trees are left in the cache.
        self.assertEqual(sorted(os.listdir(os.path.dirname(tree))),
                         sorted([os.path.basename(tree),
                                 os.path.basename(other)]))

    def test_interrupted_extraction_is_never_reused(self):
        def interrupted_tar(argv, **kwargs):
            target = argv[argv.index('-C') + 1]
            os.makedirs(os.path.join(target, 'linux-source-6.12'))
            raise KeyboardInterrupt
        with mock.patch('subprocess.run', interrupted_tar):
            with self.assertRaises(KeyboardInterrupt):
                source_cache.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                         self.tarball, run=interrupted_tar)
        self.assertFalse(os.path.exists(source_cache.tree_dir(self.cache, PKG,
                                                              '1')))
        tree = source_cache.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                        self.tarball)
        self.assertTrue(os.path.isfile(os.path.join(tree, 'Makefile')))

    def test_leftover_from_killed_process_is_cleaned(self):
        trees = os.path.join(self.cache, 'trees')
        dead = os.path.join(trees, '.extract-999999999-abc', 'linux')
        os.makedirs(dead)
        source_cache.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                 self.tarball)
        self.assertFalse(os.path.exists(os.path.dirname(dead)))

    def test_tar_failure_is_setup_error(self):
        def failing(argv, **kwargs):
            return subprocess.CompletedProcess(argv, 2)
        with self.assertRaises(SetupError) as cm:
            source_cache.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                     self.tarball, run=failing)
        self.assertIn('tar exit 2', str(cm.exception))
        self.assertEqual(os.listdir(os.path.join(self.cache, 'trees')), [])

    def test_find_tarball(self):
        with mock.patch('os.path.isfile', return_value=True):
            self.assertEqual(source_cache.find_tarball(PKG),
                             '/usr/src/linux-source-6.12.tar.xz')
        with mock.patch('os.path.isfile', return_value=False), \
                self.assertRaises(SetupError):
            source_cache.find_tarball(PKG)

    def test_trees_are_per_package_and_the_newest_is_found(self):
        self.assertIsNone(source_cache.newest_tree(self.cache, PKG))
        old = source_cache.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                       self.tarball)
        new = source_cache.ensure_tree(self.cache, PKG, '2', io.StringIO(),
                                       self.tarball)
        other = source_cache.ensure_tree(self.cache, 'linux-source-7.3', '3',
                                         io.StringIO(), self.tarball)
        os.utime(old, (1, 1))
        self.assertEqual(source_cache.newest_tree(self.cache, PKG), new)
        self.assertEqual(os.path.basename(other), 'linux-source-7.3_3')
        self.assertEqual(source_cache.newest_tree(self.cache,
                                                  'linux-source-7.3'), other)

    def test_build_dir_is_per_tree(self):
        a = source_cache.build_dir_for('/c', '/src/linux')
        b = source_cache.build_dir_for('/c', '/other/linux')
        self.assertNotEqual(a, b)
        self.assertTrue(a.startswith('/c/build/linux-'))
        self.assertEqual(a, source_cache.build_dir_for('/c', '/src/linux/'))


CHECKPATCH_TREE = {
    'linux-source-6.12/Makefile': b'VERSION = 6\n',
    'linux-source-6.12/scripts/checkpatch.pl': b'#!/usr/bin/perl\n',
    'linux-source-6.12/scripts/spelling.txt': b'abandonned||abandoned\n',
    'linux-source-6.12/scripts/Makefile': b'# not needed\n',
    # Deeper files of the same names must not be taken for the members.
    'linux-source-6.12/tools/scripts/spelling.txt': b'wrong one\n',
}
MEMBERS = ('scripts/checkpatch.pl', 'scripts/spelling.txt')


def make_tarball(path: str, files) -> str:
    with tarfile.open(path, 'w:xz') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def listing(root: str):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


class EnsureFilesTest(unittest.TestCase):

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.cache = os.path.join(self._tmp.name, 'cache')
        self.tarball = make_tarball(os.path.join(self._tmp.name, 't.tar.xz'),
                                    CHECKPATCH_TREE)

    def ensure(self, members=MEMBERS, version='1', **kwargs) -> str:
        return source_cache.ensure_files(self.cache, PKG, version, members,
                                         io.StringIO(), self.tarball,
                                         **kwargs)

    def test_extracts_only_the_members_once(self):
        files = self.ensure()
        self.assertEqual(files, source_cache.tree_dir(self.cache, PKG, '1',
                                                      'files'))
        self.assertEqual(listing(files), list(MEMBERS))
        with open(os.path.join(files, 'scripts', 'spelling.txt'), 'rb') as f:
            self.assertEqual(f.read(), b'abandonned||abandoned\n')
        # Nothing but the finished directory is left in the cache.
        self.assertEqual(os.listdir(os.path.dirname(files)),
                         [os.path.basename(files)])
        with mock.patch('subprocess.run') as run:
            self.assertEqual(self.ensure(run=run), files)
        run.assert_not_called()

    def test_a_cached_whole_tree_is_used(self):
        tree = source_cache.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                        self.tarball)
        with mock.patch('subprocess.run') as run:
            self.assertEqual(self.ensure(run=run), tree)
        run.assert_not_called()
        self.assertFalse(os.path.exists(os.path.join(self.cache, 'files')))

    def test_a_directory_missing_a_member_is_extracted_again(self):
        self.ensure(members=MEMBERS[:1])
        files = self.ensure()
        self.assertEqual(listing(files), list(MEMBERS))

    def test_a_member_missing_from_the_tarball_is_a_setup_error(self):
        def quiet(argv, **kwargs):
            return subprocess.run(argv, stderr=subprocess.DEVNULL, **kwargs)
        with self.assertRaises(SetupError) as cm:
            self.ensure(members=MEMBERS + ('scripts/nonexistent',),
                        run=quiet)
        self.assertIn('tar exit 2', str(cm.exception))
        self.assertEqual(os.listdir(os.path.join(self.cache, 'files')), [])

    def test_newest_tree_prefers_a_whole_tree(self):
        self.assertIsNone(source_cache.newest_tree(self.cache, PKG, MEMBERS))
        files = self.ensure()
        self.assertEqual(source_cache.newest_tree(self.cache, PKG, MEMBERS),
                         files)
        self.assertIsNone(source_cache.newest_tree(
            self.cache, PKG, MEMBERS + ('scripts/other',)))
        tree = source_cache.ensure_tree(self.cache, PKG, '0', io.StringIO(),
                                        self.tarball)
        self.assertEqual(source_cache.newest_tree(self.cache, PKG, MEMBERS),
                         tree)


if __name__ == '__main__':
    unittest.main()
