import os
import stat
import tempfile
import unittest
from unittest import mock

from ..testing_support import write
from . import fs_journal
from .fs_journal import TEMP_SUFFIX, atomic_write


class AtomicWriteTest(unittest.TestCase):

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.path = os.path.join(self.dir, 'Kconfig')

    def read(self) -> bytes:
        with open(self.path, 'rb') as f:
            return f.read()

    def test_replaces_with_data_and_mode(self):
        write(self.dir, 'Kconfig', b'old\n', 0o600)
        atomic_write(self.path, b'new\n', 0o640)
        self.assertEqual(self.read(), b'new\n')
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)
        self.assertEqual(os.listdir(self.dir), ['Kconfig'])

    def test_two_writers_do_not_clash(self):
        # A second writer runs between the first one's write and rename
        # (another process, say).  With one fixed temporary name it would
        # have truncated and then renamed away the first one's file.
        real_replace = os.replace
        temps = []

        def replace(src, dst):
            temps.append(src)
            if len(temps) == 1:
                atomic_write(self.path, b'second\n', 0o644)
                with open(src, 'rb') as f:
                    self.assertEqual(f.read(), b'first\n')
            real_replace(src, dst)
        with mock.patch.object(fs_journal.os, 'replace', replace):
            atomic_write(self.path, b'first\n', 0o644)
        self.assertEqual(len(set(temps)), 2)
        self.assertEqual({os.path.dirname(t) for t in temps}, {self.dir})
        self.assertEqual(self.read(), b'first\n')
        self.assertEqual(os.listdir(self.dir), ['Kconfig'])

    def test_file_then_directory_reach_the_disk(self):
        synced = []
        real_fsync = os.fsync

        def fsync(fd):
            mode = os.fstat(fd).st_mode
            synced.append(('dir' if stat.S_ISDIR(mode) else 'file',
                           os.path.exists(self.path)))
            real_fsync(fd)
        with mock.patch.object(fs_journal.os, 'fsync', fsync):
            atomic_write(self.path, b'x', 0o644)
        # The file's data before its rename, the directory after it.
        self.assertEqual(synced, [('file', False), ('dir', True)])

    def test_a_failed_write_leaves_no_temporary_file(self):
        write(self.dir, 'Kconfig', b'old\n')
        with mock.patch.object(fs_journal.os, 'replace',
                               side_effect=OSError(28, 'No space')):
            with self.assertRaises(OSError):
                atomic_write(self.path, b'new\n', 0o644)
        self.assertEqual(self.read(), b'old\n')
        self.assertEqual(os.listdir(self.dir), ['Kconfig'])

    def test_leftovers_are_found_by_name(self):
        # mkstemp's name, and the one an older sva-kunit used.
        ours = ['Kconfig.a1b2c3d_' + TEMP_SUFFIX, 'Kconfig' + TEMP_SUFFIX]
        others = ['Kconfig.orig', 'Kconfig.x.a1b2c3d_' + TEMP_SUFFIX,
                  'Kconfig.a1b2c3' + TEMP_SUFFIX, 'Makefile' + TEMP_SUFFIX]
        for name in ours + others:
            write(self.dir, name, b'half')
        fs_journal.remove_temp_files(self.path)
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(others))


if __name__ == '__main__':
    unittest.main()
