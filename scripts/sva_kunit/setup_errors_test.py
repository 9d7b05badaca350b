"""Broken state in a tree is one error line and exit 2, never a traceback."""

import json
import os
import shutil
import unittest

from .cmd_mutate_test import MutateTestCase
from .testing_support import snapshot, write
from .tree.manifest import MANIFEST_NAME

PAYLOAD_FILE = 'drivers/iommu/iommu-sva-test.c'


class SetupErrorTest(MutateTestCase):

    def commands(self):
        kernel, cache = f'--kernel={self.tree}', f'--cache-dir={self.cache}'
        return (('run', kernel, cache), ('mutate', kernel, cache),
                ('install', kernel), ('uninstall', kernel))

    def assert_one_line_exit_2(self, what: str, expected: str) -> None:
        before = snapshot(self.tree)
        for argv in self.commands():
            rc, out, err = self.main(*argv)
            self.assertEqual(rc, 2, f'{what}: {argv}: {out}{err}')
            self.assertEqual(len(err.splitlines()), 1, f'{what}: {err}')
            self.assertTrue(err.startswith('sva-kunit: error: '), err)
            self.assertIn(expected, err, what)
            self.assertEqual(snapshot(self.tree), before, what)
        self.assertEqual(self.calls(), [])

    def manifest(self, data: bytes) -> None:
        write(self.tree, MANIFEST_NAME, data)

    def test_broken_manifests(self):
        self.assertEqual(self.main('install', f'--kernel={self.tree}')[0], 0)
        with open(os.path.join(self.tree, MANIFEST_NAME)) as f:
            good = json.load(f)
        path = os.path.join(self.tree, MANIFEST_NAME)
        os.unlink(path)
        os.mkdir(path)
        self.assert_one_line_exit_2('directory',
                                    f'{path} is not a regular file')
        os.rmdir(path)
        self.manifest(b'\xff\xfe{}')
        self.assert_one_line_exit_2('not UTF-8', 'is unreadable')
        self.manifest(b'{"format": 1, "files": ')
        self.assert_one_line_exit_2('not JSON', 'is unreadable')
        mangled = [[1], {'format': '1'}, {'format': 1}]
        for key, value in (('files', []), ('dirs', 'drivers'),
                           ('dirs', [1]), ('hooks', {'x': 'y'}),
                           ('files', {PAYLOAD_FILE: {'sha256': 1}}),
                           ('files', {PAYLOAD_FILE: 'a'})):
            mangled.append(dict(good, **{key: value}))
        hook = good['hooks']['drivers/iommu/Makefile']
        for key, value in (('lines', 'obj-y'), ('lines', [None]),
                           ('added_newline', 'no')):
            mangled.append(dict(good, hooks={'drivers/iommu/Makefile':
                                             dict(hook, **{key: value})}))
        for doc in mangled:
            self.manifest(json.dumps(doc).encode())
            self.assert_one_line_exit_2(f'shape {doc}', 'is unreadable')

    def test_installed_file_replaced_by_a_directory(self):
        self.assertEqual(self.main('install', f'--kernel={self.tree}')[0], 0)
        path = os.path.join(self.tree, PAYLOAD_FILE)
        os.unlink(path)
        os.mkdir(path)
        self.assert_one_line_exit_2('payload', f'{path} is not a regular '
                                    'file')
        os.rmdir(path)
        shutil.copy(os.path.join(self.repo, PAYLOAD_FILE), path)
        hook = os.path.join(self.tree, 'drivers/iommu/Makefile')
        os.unlink(hook)
        os.mkdir(hook)
        self.assert_one_line_exit_2('hook', f'{hook} is not a regular file')

    def test_mutation_journal_that_is_a_directory_or_not_utf8(self):
        journal = os.path.join(self.tree, '.sva-kunit-mutation')
        os.mkdir(journal)
        self.assert_one_line_exit_2('directory',
                                    f'{journal} is not a regular file')
        os.rmdir(journal)
        for data in (b'\xff{}', b'[1]', b'[]', b'{"version": 1}'):
            write(self.tree, '.sva-kunit-mutation', data)
            self.assert_one_line_exit_2(repr(data), 'is unreadable')


if __name__ == '__main__':
    unittest.main()
