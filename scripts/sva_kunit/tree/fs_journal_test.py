"""The atomic write, and install/uninstall cut short at any point: undone
now, or by the next command."""

import io
import json
import os
import stat
import tempfile
import unittest
from typing import Callable
from unittest import mock

from ..errors import SetupError
from ..testing_support import FakeTreeTestCase, snapshot, write
from . import fs_journal, installer
from .fs_journal import (TEMP_SUFFIX, Journal, atomic_write, journal_path,
                         owner_of)


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
        ours = ['Kconfig.a1b2c3d_' + TEMP_SUFFIX,
                'Kconfig.zz99yy88' + TEMP_SUFFIX]
        others = ['Kconfig.orig', 'Kconfig.x.a1b2c3d_' + TEMP_SUFFIX,
                  'Kconfig' + TEMP_SUFFIX,
                  'Kconfig.a1b2c3' + TEMP_SUFFIX, 'Makefile' + TEMP_SUFFIX]
        for name in ours + others:
            write(self.dir, name, b'half')
        fs_journal.remove_temp_files(self.path)
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(others))


class InterruptTest(FakeTreeTestCase):

    def setUp(self) -> None:
        super().setUp()
        installer.sync(self.tree, self.payload())
        self.installed = snapshot(self.tree)
        installer.uninstall(self.tree)

    def install(self) -> installer.Plan:
        return installer.sync(self.tree, self.payload())

    def uninstall(self) -> installer.Plan:
        return installer.uninstall(self.tree)

    def interrupted(self, command: Callable[[], installer.Plan], at: int,
                    killed: bool) -> None:
        """Ctrl-C before the at-th action; with killed, a second one cuts
        the rollback short too, as SIGKILL would."""
        real = installer._perform
        calls = []

        def perform(*args):
            calls.append(args)
            if len(calls) == at:
                raise KeyboardInterrupt
            real(*args)

        def rollback(journal):
            raise KeyboardInterrupt

        with mock.patch.object(installer, '_perform', perform), \
                mock.patch.object(installer.Journal, 'rollback',
                                  rollback if killed
                                  else installer.Journal.rollback):
            with self.assertRaises(KeyboardInterrupt):
                command()
        self.assertEqual(len(calls), at)

    def steps(self, command: Callable[[], installer.Plan]) -> int:
        """How many actions the command's plan has from the current tree."""
        plan = (installer.plan_sync(self.tree, self.payload())
                if command == self.install
                else installer.plan_sync(self.tree, {}))
        return len(plan.actions)

    def test_ctrl_c_between_two_writes_rolls_back_at_once(self):
        for command, start in ((self.install, self.before),
                               (self.uninstall, self.installed)):
            if start is self.installed:
                self.install()
            for at in range(1, self.steps(command) + 1):
                self.interrupted(command, at, killed=False)
                self.assertEqual(snapshot(self.tree), start, (command, at))

    def test_killed_at_any_point_the_next_command_repairs(self):
        for first, start in ((self.install, self.before),
                             (self.uninstall, self.installed)):
            for then, end in ((self.install, self.installed),
                              (self.uninstall, self.before)):
                if start is self.installed:
                    self.install()
                for at in range(1, self.steps(first) + 1):
                    self.interrupted(first, at, killed=True)
                    self.assertTrue(os.path.exists(journal_path(self.tree)))
                    out = io.StringIO()
                    installer.sync(self.tree, self.payload(), out=out) \
                        if then == self.install else \
                        installer.uninstall(self.tree, out=out)
                    self.assertIn('sva-kunit: undid the half-done changes '
                                  'of an interrupted install or uninstall',
                                  out.getvalue())
                    self.assertEqual(snapshot(self.tree), end,
                                     (first, at, then))
                    # Back to where the interrupted command started.
                    self.install() if start is self.installed \
                        else self.uninstall()

    def test_killed_while_writing_a_file_or_the_journal(self):
        self.interrupted(self.install, 3, killed=True)
        write(self.tree, 'drivers/iommu/Kconfig.x1y2z3w4' + TEMP_SUFFIX,
              b'half')
        self.uninstall()
        self.assertEqual(snapshot(self.tree), self.before)
        write(self.tree, Journal.NAME + '.ab12cd34' + TEMP_SUFFIX, b'[{')
        self.install()
        self.assertEqual(snapshot(self.tree), self.installed)

    def test_dry_run_cannot_plan_over_a_half_done_change(self):
        self.interrupted(self.install, 4, killed=True)
        half = snapshot(self.tree)
        with self.assertRaisesRegex(SetupError, 'rerun without --dry-run'):
            installer.sync(self.tree, self.payload(), dry_run=True)
        self.assertEqual(snapshot(self.tree), half)

    def test_someone_elses_change_after_the_kill_stops_the_repair(self):
        self.interrupted(self.install, 5, killed=True)
        write(self.tree, 'drivers/iommu/iommu-sva-test.c', b'// mine\n')
        changed = snapshot(self.tree)
        for command in (self.install, self.uninstall):
            with self.assertRaisesRegex(SetupError, 'iommu-sva-test.c was '
                                        'changed by someone else'):
                command()
            self.assertEqual(snapshot(self.tree), changed)
        os.unlink(os.path.join(self.tree, 'drivers/iommu/iommu-sva-test.c'))
        write(self.tree, 'drivers/iommu/fake-iommu/notes.txt', b'mine\n')
        with self.assertRaisesRegex(SetupError, r'holds files it did not '
                                    r'put there \(notes.txt\)'):
            self.uninstall()

    def test_journal_naming_a_path_out_of_the_tree(self):
        self.interrupted(self.install, 2, killed=True)
        path = journal_path(self.tree)
        with open(path) as f:
            text = f.read()
        write(self.tree, Journal.NAME, text.replace(
            '"drivers/iommu/Kconfig"', '"../victim"').encode())
        with self.assertRaisesRegex(SetupError, "is unreadable .*'../victim'"):
            self.uninstall()

    def test_mangled_journal_is_unreadable_and_changes_nothing(self):
        self.interrupted(self.install, 4, killed=True)
        with open(journal_path(self.tree)) as f:
            good = json.load(f)
        entry = good[0]
        for doc in ([1], {'entries': good}, [], [dict(entry, data=None)],
                    [dict(entry, mode='0o644')], [dict(entry, before='link')],
                    [dict(entry, owner=['a', 0])]):
            write(self.tree, Journal.NAME, json.dumps(doc).encode())
            before = snapshot(self.tree)
            for command in (self.install, self.uninstall):
                with self.assertRaisesRegex(SetupError, 'is unreadable'):
                    command()
                self.assertEqual(snapshot(self.tree), before)

    def test_payload_path_through_a_symlink_out_of_the_tree(self):
        outside = os.path.join(self._tmp.name, 'outside')
        os.mkdir(outside)
        os.symlink(outside, os.path.join(self.tree, 'tools/testing/kunit/'
                                         'configs'))
        before = snapshot(self.tree)
        with self.assertRaisesRegex(SetupError, 'leads out of the tree .*'
                                    'nothing was changed'):
            self.install()
        self.assertEqual(snapshot(self.tree), before)
        self.assertEqual(os.listdir(outside), [])

    def test_finish_makes_every_touched_directory_durable(self):
        journal = Journal.begin(self.tree, [
            ('drivers/iommu/fake-iommu', fs_journal.DIR),
            ('drivers/iommu/Kconfig', fs_journal.ABSENT)])
        synced = []
        with mock.patch.object(fs_journal, 'fsync_dir', synced.append):
            journal.finish()
        self.assertEqual(synced, [os.path.join(self.tree, 'drivers', 'iommu'),
                                  self.tree])
        self.assertFalse(os.path.exists(journal_path(self.tree)))

    @unittest.skipUnless(os.geteuid() == 0, 'only root can chown')
    def test_repair_keeps_owners(self):
        kconfig = os.path.join(self.tree, 'drivers/iommu/Kconfig')
        os.chown(kconfig, 4242, 4343)
        actions = [a.path for a in installer.plan_sync(
            self.tree, self.payload()).actions]
        self.interrupted(self.install, actions.index(
            'drivers/iommu/Kconfig') + 2, killed=True)
        self.assertEqual(owner_of(kconfig), (4242, 4343))
        self.assertTrue(Journal.repair(self.tree))
        self.assertEqual(owner_of(kconfig), (4242, 4343))


if __name__ == '__main__':
    unittest.main()
