import json
import os
import unittest
from dataclasses import replace
from unittest import mock

from ..errors import SetupError
from ..testing_support import IOMMU_MAKEFILE, FakeTreeTestCase, snapshot, write
from . import installer
from .fs_journal import sha256
from .manifest import HOOKS, MANIFEST_NAME, Hook, load_manifest


class InstallerTest(FakeTreeTestCase):

    def read(self, rel: str) -> bytes:
        with open(os.path.join(self.tree, rel), 'rb') as f:
            return f.read()

    def test_install_puts_payload_and_hooks_in(self):
        installer.sync(self.tree, self.payload())
        self.assertEqual(self.read('drivers/iommu/fake-iommu/fake-iommu.c'),
                         b'// fake\n')
        self.assertIn(b'source "drivers/iommu/fake-iommu/Kconfig"\n'
                      b'endif # IOMMU_SUPPORT\n',
                      self.read('drivers/iommu/Kconfig'))
        self.assertTrue(self.read('drivers/iommu/Makefile').endswith(
            b'obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/\n'
            b'include $(srctree)/drivers/iommu/fake-iommu/compat.mk\n'
            b'CFLAGS_iommu-sva-model-test.o += $(fake_iommu_compat_flags)\n'
            b'CFLAGS_iommu-sva-test.o += $(fake_iommu_compat_flags)\n'
            b'CFLAGS_iommu-sva-leak-test.o += $(fake_iommu_compat_flags)\n'
            b'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o\n'
            b'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-model-test.o\n'
            b'obj-$(CONFIG_IOMMU_SVA_KUNIT_LEAK_TEST) += '
            b'iommu-sva-leak-test.o\n'))
        manifest = load_manifest(self.tree)
        self.assertIn('drivers/iommu/fake-iommu', manifest['dirs'])
        self.assertIn('tools/testing/kunit/configs/iommu_sva.config',
                      manifest['files'])
        self.assertEqual(sorted(manifest['hooks']),
                         ['drivers/iommu/Kconfig', 'drivers/iommu/Makefile'])

    def test_uninstall_restores_tree_byte_for_byte(self):
        installer.sync(self.tree, self.payload())
        self.assertNotEqual(snapshot(self.tree), self.before)
        installer.uninstall(self.tree)
        self.assertEqual(snapshot(self.tree), self.before)

    def test_install_over_an_older_hook_table_updates_the_lines(self):
        older = tuple(replace(h, lines=h.lines[:1] + h.lines[-1:])
                      if h.path == 'drivers/iommu/Makefile' else h
                      for h in HOOKS)
        with mock.patch.object(installer, 'HOOKS', older):
            installer.sync(self.tree, self.payload())
        self.assertNotIn(b'iommu-sva-model-test.o',
                         self.read('drivers/iommu/Makefile'))
        installer.sync(self.tree, self.payload())
        self.assertTrue(self.read('drivers/iommu/Makefile').endswith(
            b'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o\n'
            b'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-model-test.o\n'
            b'obj-$(CONFIG_IOMMU_SVA_KUNIT_LEAK_TEST) += '
            b'iommu-sva-leak-test.o\n'))
        installer.uninstall(self.tree)
        self.assertEqual(snapshot(self.tree), self.before)

    def test_install_and_uninstall_are_idempotent(self):
        installer.sync(self.tree, self.payload())
        installed = snapshot(self.tree)
        self.assertFalse(installer.sync(self.tree, self.payload()).actions)
        self.assertEqual(snapshot(self.tree), installed)
        installer.uninstall(self.tree)
        self.assertFalse(installer.uninstall(self.tree).actions)
        self.assertEqual(snapshot(self.tree), self.before)

    def test_resync_does_not_touch_unchanged_files(self):
        installer.sync(self.tree, self.payload())
        path = os.path.join(self.tree, 'drivers/iommu/iommu-sva-test.c')
        os.utime(path, (1, 1))
        installer.sync(self.tree, self.payload())
        self.assertEqual(os.stat(path).st_mtime, 1)

    def test_dry_run_changes_nothing(self):
        plan = installer.sync(self.tree, self.payload(), dry_run=True)
        self.assertTrue(plan.actions)
        self.assertEqual(snapshot(self.tree), self.before)
        lines = list(installer.describe(plan, dry_run=True))
        self.assertIn('would write drivers/iommu/fake-iommu/fake-iommu.c',
                      lines)
        installer.sync(self.tree, self.payload())
        installed = snapshot(self.tree)
        installer.uninstall(self.tree, dry_run=True)
        self.assertEqual(snapshot(self.tree), installed)

    def test_sync_removes_files_no_longer_in_payload(self):
        installer.sync(self.tree, self.payload())
        os.unlink(os.path.join(self.repo, 'drivers/iommu/fake-iommu/'
                                          'fake-iommu.h'))
        write(self.repo, 'drivers/iommu/fake-iommu/fake-iommu.c', b'// v2\n')
        plan = installer.sync(self.tree, self.payload())
        self.assertIn('removed drivers/iommu/fake-iommu/fake-iommu.h',
                      list(installer.describe(plan, dry_run=False)))
        self.assertFalse(os.path.exists(os.path.join(
            self.tree, 'drivers/iommu/fake-iommu/fake-iommu.h')))
        self.assertEqual(self.read('drivers/iommu/fake-iommu/fake-iommu.c'),
                         b'// v2\n')
        installer.uninstall(self.tree)
        self.assertEqual(snapshot(self.tree), self.before)

    def test_sync_removes_directories_it_no_longer_needs(self):
        installer.sync(self.tree, self.payload())
        write(self.repo, 'drivers/iommu/fake-iommu/extra/sub/x.c', b'x\n')
        installer.sync(self.tree, self.payload())
        self.assertTrue(os.path.isdir(os.path.join(
            self.tree, 'drivers/iommu/fake-iommu/extra/sub')))
        os.unlink(os.path.join(self.repo,
                               'drivers/iommu/fake-iommu/extra/sub/x.c'))
        installer.sync(self.tree, self.payload())
        self.assertFalse(os.path.exists(os.path.join(
            self.tree, 'drivers/iommu/fake-iommu/extra')))

    def test_payload_mode_is_installed(self):
        write(self.repo, 'drivers/iommu/fake-iommu/run-me.sh',
              b'#!/bin/sh\n', 0o755)
        installer.sync(self.tree, self.payload())
        path = os.path.join(self.tree, 'drivers/iommu/fake-iommu/run-me.sh')
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o755)
        installer.uninstall(self.tree)
        self.assertEqual(snapshot(self.tree), self.before)

    def test_foreign_file_stops_before_any_change(self):
        write(self.tree, 'drivers/iommu/fake-iommu/Kconfig', b'mine\n')
        before = snapshot(self.tree)
        with self.assertRaises(SetupError) as cm:
            installer.sync(self.tree, self.payload())
        self.assertIn('drivers/iommu/fake-iommu/Kconfig already exists and '
                      'was not installed by sva-kunit', str(cm.exception))
        self.assertEqual(snapshot(self.tree), before)

    def test_foreign_hook_line_stops_before_any_change(self):
        # A longer line that only starts like one of ours is no hook line.
        write(self.tree, 'drivers/iommu/Makefile', IOMMU_MAKEFILE +
              b'obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/x.o\n')
        self.assertTrue(installer.plan_sync(self.tree, self.payload()).actions)
        write(self.tree, 'drivers/iommu/Makefile', IOMMU_MAKEFILE +
              b'obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/  \n')
        before = snapshot(self.tree)
        with self.assertRaises(SetupError) as cm:
            installer.sync(self.tree, self.payload())
        self.assertIn('drivers/iommu/Makefile already has the line',
                      str(cm.exception))
        self.assertEqual(snapshot(self.tree), before)

    def test_modified_payload_file_is_not_overwritten(self):
        installer.sync(self.tree, self.payload())
        write(self.tree, 'drivers/iommu/iommu-sva-test.c', b'// edited\n')
        write(self.repo, 'drivers/iommu/iommu-sva-test.c', b'// v2\n')
        before = snapshot(self.tree)
        for action in (lambda: installer.sync(self.tree, self.payload()),
                       lambda: installer.uninstall(self.tree)):
            with self.assertRaises(SetupError) as cm:
                action()
            self.assertIn('drivers/iommu/iommu-sva-test.c was modified after '
                          'sva-kunit installed it', str(cm.exception))
            self.assertEqual(snapshot(self.tree), before)

    def test_user_edits_to_hook_files_survive_uninstall(self):
        installer.sync(self.tree, self.payload())
        makefile = os.path.join(self.tree, 'drivers/iommu/Makefile')
        with open(makefile, 'ab') as f:
            f.write(b'obj-y += mine.o\n')
        kconfig = self.read('drivers/iommu/Kconfig').replace(
            b'config IOMMU_SVA\n', b'config IOMMU_SVA\n\t# mine\n')
        write(self.tree, 'drivers/iommu/Kconfig', kconfig)
        self.assertFalse(installer.sync(self.tree, self.payload()).actions)
        installer.uninstall(self.tree)
        self.assertEqual(self.read('drivers/iommu/Makefile'),
                         IOMMU_MAKEFILE + b'obj-y += mine.o\n')
        self.assertEqual(self.read('drivers/iommu/Kconfig'), self.before[
            os.path.join('drivers', 'iommu', 'Kconfig')][2].replace(
                b'config IOMMU_SVA\n', b'config IOMMU_SVA\n\t# mine\n'))
        self.assertEqual(os.stat(makefile).st_mode & 0o777, 0o640)

    def test_changed_or_removed_hook_line_is_an_error(self):
        installer.sync(self.tree, self.payload())
        for rel, old, new in (
                ('drivers/iommu/Makefile', b'+= fake-iommu/', b'+= fake/'),
                ('drivers/iommu/Kconfig',
                 b'source "drivers/iommu/fake-iommu/Kconfig"\n', b'')):
            installed = self.read(rel)
            mode = os.stat(os.path.join(self.tree, rel)).st_mode & 0o777
            write(self.tree, rel, installed.replace(old, new), mode)
            before = snapshot(self.tree)
            for action in (lambda: installer.uninstall(self.tree),
                           lambda: installer.sync(self.tree,
                                                  self.payload())):
                with self.assertRaises(SetupError) as cm:
                    action()
                self.assertIn(f'{rel} was modified after sva-kunit added '
                              'its hook lines (its line', str(cm.exception))
                self.assertEqual(snapshot(self.tree), before)
            write(self.tree, rel, installed, mode)
        installer.uninstall(self.tree)
        self.assertEqual(snapshot(self.tree), self.before)

    def test_missing_anchor_stops_before_any_change(self):
        write(self.tree, 'drivers/iommu/Kconfig', b'config IOMMU_SVA\n')
        before = snapshot(self.tree)
        with self.assertRaises(SetupError) as cm:
            installer.sync(self.tree, self.payload())
        self.assertIn("has no line 'endif # IOMMU_SUPPORT'",
                      str(cm.exception))
        self.assertEqual(snapshot(self.tree), before)

    def test_failure_midway_rolls_back_install(self):
        real_write = installer.atomic_write
        calls = []

        def failing_write(path, data, mode, owner=None):
            calls.append(path)
            if len(calls) == 4:
                raise OSError(28, 'No space left on device')
            real_write(path, data, mode, owner)

        with mock.patch.object(installer, 'atomic_write', failing_write):
            with self.assertRaises(SetupError) as cm:
                installer.sync(self.tree, self.payload())
        self.assertIn('the tree was restored', str(cm.exception))
        self.assertGreaterEqual(len(calls), 4)
        self.assertEqual(snapshot(self.tree), self.before)

    def failing(self, kind: tuple) -> mock._patch:
        """Actions of that kind fail, as if the permission were denied."""
        real = installer._perform

        def perform(tree, action):
            if action.kind == kind:
                raise OSError(13, 'denied')
            real(tree, action)
        return mock.patch.object(installer, '_perform', perform)

    def test_failure_midway_rolls_back_resync_and_uninstall(self):
        installer.sync(self.tree, self.payload())
        installed = snapshot(self.tree)
        os.unlink(os.path.join(self.repo, 'drivers/iommu/fake-iommu/'
                                          'fake-iommu.h'))
        write(self.repo, 'drivers/iommu/iommu-sva-test.c', b'// v2\n')
        with self.failing(installer.RMDIR):
            with self.assertRaises(SetupError):
                installer.uninstall(self.tree)
        self.assertEqual(snapshot(self.tree), installed)
        with self.failing(installer.REMOVE):
            with self.assertRaises(SetupError):
                installer.sync(self.tree, self.payload())
        self.assertEqual(snapshot(self.tree), installed)

    def test_changed_hook_table_is_resynced_and_uninstallable(self):
        installer.sync(self.tree, self.payload())
        changed = (Hook(path='drivers/iommu/Makefile',
                        lines=('obj-y += fake-iommu/other/',)),)
        with mock.patch.object(installer, 'HOOKS', changed):
            installer.sync(self.tree, self.payload())
        self.assertTrue(self.read('drivers/iommu/Makefile').endswith(
            IOMMU_MAKEFILE + b'obj-y += fake-iommu/other/\n'))
        self.assertNotIn(b'fake-iommu', self.read('drivers/iommu/Kconfig'))
        installer.uninstall(self.tree)
        self.assertEqual(snapshot(self.tree), self.before)

    def owners_and_modes(self, *rels: str) -> list:
        stats = [os.stat(os.path.join(self.tree, rel)) for rel in rels]
        return [(st.st_uid, st.st_gid, st.st_mode & 0o7777) for st in stats]

    def test_hook_files_keep_their_mode(self):
        hooks = ('drivers/iommu/Kconfig', 'drivers/iommu/Makefile')
        os.chmod(os.path.join(self.tree, hooks[0]), 0o604)
        before = self.owners_and_modes(*hooks)
        installer.sync(self.tree, self.payload())
        self.assertEqual(self.owners_and_modes(*hooks), before)
        installer.uninstall(self.tree)
        self.assertEqual(self.owners_and_modes(*hooks), before)

    @unittest.skipUnless(os.geteuid() == 0, 'only root can chown')
    def test_files_keep_their_owner_when_root_changes_them(self):
        hooks = ('drivers/iommu/Kconfig', 'drivers/iommu/Makefile')
        for rel in hooks:
            os.chown(os.path.join(self.tree, rel), 4242, 4343)
        before = self.owners_and_modes(*hooks)
        installer.sync(self.tree, self.payload())
        self.assertEqual(self.owners_and_modes(*hooks), before)
        payload = 'drivers/iommu/iommu-sva-test.c'
        os.chown(os.path.join(self.tree, payload), 4242, 4343)
        ours = self.owners_and_modes(payload)
        # A failed uninstall puts removed files back with their owner.
        with self.failing(installer.RMDIR):
            with self.assertRaises(SetupError):
                installer.uninstall(self.tree)
        self.assertEqual(self.owners_and_modes(payload), ours)
        self.assertEqual(self.owners_and_modes(*hooks), before)
        installer.uninstall(self.tree)
        self.assertEqual(self.owners_and_modes(*hooks), before)
        self.assertEqual(snapshot(self.tree), self.before)

    def test_manifest_is_json_in_tree_root(self):
        installer.sync(self.tree, self.payload())
        self.assertTrue(os.path.isfile(os.path.join(self.tree,
                                                    MANIFEST_NAME)))

    def test_corrupt_manifest_is_a_setup_error(self):
        write(self.tree, MANIFEST_NAME, b'{not json')
        with self.assertRaises(SetupError) as cm:
            installer.sync(self.tree, self.payload())
        self.assertIn('is unreadable', str(cm.exception))

    def test_manifest_paths_leading_out_of_the_tree_are_refused(self):
        outside = os.path.join(self._tmp.name, 'outside')
        write(outside, 'victim.txt', b'precious\n')
        write(outside, 'Makefile', IOMMU_MAKEFILE)
        os.symlink(outside, os.path.join(self.tree, 'drivers/link'))
        installer.sync(self.tree, self.payload())
        path = os.path.join(self.tree, MANIFEST_NAME)
        with open(path) as f:
            good = json.load(f)
        record = {'sha256': sha256(b'precious\n')}
        hook = dict(good['hooks']['drivers/iommu/Makefile'])
        for rel in ('../outside/victim.txt', outside + '/victim.txt',
                    'drivers/link/victim.txt', 'drivers/./iommu/x.c', ''):
            for key, value in (('files', record), ('hooks', hook)):
                doc = json.loads(json.dumps(good))
                doc[key][rel] = value
                write(self.tree, MANIFEST_NAME, json.dumps(doc).encode())
                before = snapshot(self._tmp.name)
                for action in (lambda: installer.uninstall(self.tree),
                               lambda: installer.sync(self.tree,
                                                      self.payload())):
                    with self.assertRaises(SetupError) as cm:
                        action()
                    self.assertIn(f'{rel!r}', str(cm.exception))
                    self.assertEqual(snapshot(self._tmp.name), before)
            doc = json.loads(json.dumps(good))
            doc['dirs'].append(rel)
            write(self.tree, MANIFEST_NAME, json.dumps(doc).encode())
            with self.assertRaises(SetupError):
                installer.uninstall(self.tree)

    def test_foreign_files_in_created_directory_block_uninstall(self):
        installer.sync(self.tree, self.payload())
        write(self.tree, 'drivers/iommu/fake-iommu/notes.txt', b'mine\n')
        before = snapshot(self.tree)
        with self.assertRaises(SetupError) as cm:
            installer.uninstall(self.tree)
        self.assertIn('holds files it did not install (notes.txt)',
                      str(cm.exception))
        self.assertEqual(snapshot(self.tree), before)


if __name__ == '__main__':
    unittest.main()
