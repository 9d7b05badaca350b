"""bisect-step against a fake kernel git tree with a fake kunit.py."""

import contextlib
import io
import json
import os
import re
import tempfile
import unittest
from typing import Any, Optional
from unittest import mock

from . import cli, cmd_bisect_step
from .cmd_bisect_step import EXIT_ABORT, EXIT_BAD, EXIT_GOOD, EXIT_SKIP
from .testing_support import (FAILING_LOG, IOMMU_H_OLD, IOMMU_MAKEFILE,
                              KASAN_IN_TEST_LOG, PASSING_LOG, git,
                              install_fake_kunit, make_fake_repo,
                              make_fake_tree, snapshot, write)
from .tree import installer, kernel_sources
from .tree.manifest import MANIFEST_NAME
from .tree.payload import collect_payload

RESULT = re.compile(r'^sva-kunit bisect-step: ([0-9a-f]+) (good|bad|skip) '
                    r'\((.*)\) in \d+ s$')


def make_git_tree(root: str) -> str:
    make_fake_tree(root)
    install_fake_kunit(root)
    git(root, 'init', '-q')
    git(root, 'add', '-A', '-f')
    git(root, 'commit', '-q', '-m', 'base')
    return root


def tree_state(tree: str) -> tuple:
    """git status (with ignored files) and every byte outside .git."""
    files = {k: v for k, v in snapshot(tree).items()
             if k != '.git' and not k.startswith('.git' + os.sep)}
    return git(tree, 'status', '--porcelain=v1', '--untracked-files=all',
               '--ignored'), files


def which_all(tool: str, path: Optional[str] = None) -> Optional[str]:
    return '/usr/bin/' + tool


class BisectStepTestCase(unittest.TestCase):

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        tmp = self._tmp.name
        self.tree = make_git_tree(os.path.join(tmp, 'linux'))
        self.repo = make_fake_repo(os.path.join(tmp, 'repo'))
        self.cache = os.path.join(tmp, 'cache')
        self.control = os.path.join(tmp, 'control.json')
        self.set_control(log=PASSING_LOG)
        for patch in (mock.patch.dict(os.environ,
                                      {'FAKE_KUNIT_CONTROL': self.control}),
                      mock.patch('shutil.which', which_all)):
            patch.start()
            self.addCleanup(patch.stop)

    def set_control(self, **control: Any) -> None:
        with open(self.control, 'w') as f:
            json.dump(control, f)

    def kunit_calls(self) -> int:
        try:
            with open(self.control + '.calls') as f:
                return len(f.readlines())
        except FileNotFoundError:
            return 0

    def step(self, *extra: str, kernel: Optional[str] = None) -> tuple:
        out, err = io.StringIO(), io.StringIO()
        argv = ['bisect-step', f'--kernel={kernel or self.tree}',
                f'--cache-dir={self.cache}', *extra]
        with contextlib.redirect_stderr(err):
            rc = cli.main(argv, out, err, repo_root=self.repo)
        return rc, out.getvalue(), err.getvalue()

    def assert_result(self, out: str, verdict: str) -> str:
        match = RESULT.match(out.splitlines()[-1])
        self.assertIsNotNone(match, out)
        self.assertEqual(match.group(1), git(self.tree, 'rev-parse',
                                             '--short', 'HEAD').strip())
        self.assertEqual(match.group(2), verdict)
        return match.group(3)


class ExitCodeTest(BisectStepTestCase):

    def test_pass_is_good(self):
        before = tree_state(self.tree)
        rc, out, err = self.step('--jobs=2', '--filter=iommu_sva*')
        self.assertEqual((rc, err), (EXIT_GOOD, ''))
        self.assertEqual(self.assert_result(out, 'good'),
                         '2 tests passed; kernel log clean')
        self.assertIn('nothing committed', out)
        self.assertEqual(tree_state(self.tree), before)
        with open(self.control + '.calls') as f:
            _, build_argv, argv = [json.loads(line)['argv'] for line in f]
        build = kernel_sources.build_dir_for(self.cache, self.tree)
        self.assertIn(f'--build_dir={build}', argv)
        self.assertIn('--jobs=2', build_argv)
        self.assertEqual(argv[-1], 'iommu_sva*')

    def test_failed_test_or_dirty_log_is_bad(self):
        for log in (FAILING_LOG, KASAN_IN_TEST_LOG):
            self.set_control(log=log)
            before = tree_state(self.tree)
            rc, out, _ = self.step()
            self.assertEqual(rc, EXIT_BAD)
            self.assert_result(out, 'bad')
            self.assertEqual(tree_state(self.tree), before)

    def test_build_or_config_failure_is_skip(self):
        for stage in ('build', 'config'):
            self.set_control(log=PASSING_LOG, fail=stage)
            before = tree_state(self.tree)
            rc, out, err = self.step('--build-dir=' + os.path.join(
                self.cache, 'b'))
            self.assertEqual(rc, EXIT_SKIP)
            what = 'build' if stage == 'build' else 'configure'
            self.assertIn(f'kunit.py failed to {what} the kernel',
                          self.assert_result(out, 'skip'))
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn('skipping', err)
            self.assertEqual(tree_state(self.tree), before)

    def test_pre_v6_8_revision_is_skipped_untouched(self):
        write(self.tree, 'include/linux/iommu.h', IOMMU_H_OLD)
        git(self.tree, 'commit', '-q', '-a', '-m', 'old')
        before = tree_state(self.tree)
        rc, out, err = self.step()
        self.assertEqual(rc, EXIT_SKIP)
        self.assertIn('lacks what the suite needs: struct iommu_mm_data',
                      self.assert_result(out, 'skip'))
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn('lacks what the suite needs: struct iommu_mm_data',
                      err)
        self.assertEqual(tree_state(self.tree), before)
        self.assertEqual(self.kunit_calls(), 0)

    def test_no_kunit_py_or_no_iommu_core_is_skipped(self):
        git(self.tree, 'rm', '-q', 'tools/testing/kunit/kunit.py')
        git(self.tree, 'commit', '-q', '-m', 'no kunit')
        rc, out, _ = self.step()
        self.assertEqual(rc, EXIT_SKIP)
        self.assertIn('kunit.py', self.assert_result(out, 'skip'))
        git(self.tree, 'rm', '-q', 'drivers/iommu/iommu.c')
        git(self.tree, 'commit', '-q', '-m', 'no iommu')
        rc, out, _ = self.step()
        self.assertEqual(rc, EXIT_SKIP)
        self.assertIn('has no IOMMU core (no drivers/iommu/iommu.c)',
                      self.assert_result(out, 'skip'))

    def test_suite_file_in_the_way_is_skipped_untouched(self):
        write(self.tree, 'drivers/iommu/iommu-sva-test.c', b'// theirs\n')
        git(self.tree, 'add', '-A')
        git(self.tree, 'commit', '-q', '-m', 'upstream test')
        before = tree_state(self.tree)
        rc, out, _ = self.step()
        self.assertEqual(rc, EXIT_SKIP)
        self.assertIn('already exists', self.assert_result(out, 'skip'))
        self.assertEqual(tree_state(self.tree), before)
        self.assertEqual(self.kunit_calls(), 0)


class UserChangesTest(BisectStepTestCase):

    def test_uncommitted_hook_edits_and_untracked_files_survive(self):
        makefile = IOMMU_MAKEFILE + b'obj-y += mine.o  # user edit'  # no \n
        write(self.tree, 'drivers/iommu/Makefile', makefile, 0o640)
        kconfig_path = os.path.join(self.tree, 'drivers/iommu/Kconfig')
        with open(kconfig_path, 'rb') as f:
            kconfig = f.read().replace(b'config IOMMU_SVA\n',
                                       b'config IOMMU_SVA\n\t# mine\n')
        write(self.tree, 'drivers/iommu/Kconfig', kconfig)
        write(self.tree, 'notes.txt', b'my notes\n')
        write(self.tree, 'drivers/iommu/.scratch', b'ignored by me\n')
        before = tree_state(self.tree)
        self.assertIn(' M drivers/iommu/Makefile', before[0])
        for log, code in ((PASSING_LOG, EXIT_GOOD), (FAILING_LOG, EXIT_BAD)):
            self.set_control(log=log)
            rc, out, err = self.step()
            self.assertEqual(rc, code, out + err)
            self.assertEqual(tree_state(self.tree), before)
        with open(os.path.join(self.tree, 'drivers/iommu/Makefile'),
                  'rb') as f:
            self.assertEqual(f.read(), makefile)

    def test_default_kernel_is_the_work_tree_of_the_cwd(self):
        before = tree_state(self.tree)
        cwd = os.getcwd()
        self.addCleanup(os.chdir, cwd)
        os.chdir(os.path.join(self.tree, 'drivers', 'iommu'))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = cli.main(['bisect-step', f'--cache-dir={self.cache}'],
                          out, err, repo_root=self.repo)
        self.assertEqual(rc, EXIT_GOOD, out.getvalue() + err.getvalue())
        self.assert_result(out.getvalue(), 'good')
        self.assertEqual(tree_state(self.tree), before)


class AbortTest(BisectStepTestCase):

    def test_not_a_git_tree_aborts(self):
        plain = make_fake_tree(os.path.join(self._tmp.name, 'plain'))
        rc, out, err = self.step(kernel=plain)
        self.assertEqual(rc, EXIT_ABORT)
        self.assertEqual(out, '')
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn('not inside a git work tree', err)

    def test_tree_changed_during_the_step_aborts(self):
        real = cmd_bisect_step.run_suite

        def run_and_litter(options, out, env, tree):
            write(tree, 'drivers/iommu/iommu-sva.c', b'// changed\n')
            return real(options, out, env, tree=tree)

        with mock.patch.object(cmd_bisect_step, 'run_suite', run_and_litter):
            rc, out, err = self.step()
        self.assertEqual(rc, EXIT_ABORT)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn('now " M drivers/iommu/iommu-sva.c"', err)
        self.assertNotIn(' good ', out)
        # The suite itself was still taken out.
        self.assertFalse(os.path.exists(os.path.join(self.tree,
                                                     MANIFEST_NAME)))

    def test_leftover_install_aborts_without_touching(self):
        self.assertEqual(cli.main(['install', f'--kernel={self.tree}'],
                                  io.StringIO(), io.StringIO(),
                                  repo_root=self.repo), 0)
        before = tree_state(self.tree)
        rc, _, err = self.step()
        self.assertEqual(rc, EXIT_ABORT)
        self.assertIn(MANIFEST_NAME, err)
        self.assertEqual(tree_state(self.tree), before)

    def test_leftover_install_journal_aborts_without_touching(self):
        payload = collect_payload(self.repo)
        with mock.patch.object(installer, '_perform',
                               side_effect=KeyboardInterrupt), \
                mock.patch.object(installer.Journal, 'rollback',
                                  side_effect=KeyboardInterrupt), \
                self.assertRaises(KeyboardInterrupt):
            installer.sync(self.tree, payload)  # ... as if killed
        before = tree_state(self.tree)
        rc, _, err = self.step()
        self.assertEqual(rc, EXIT_ABORT)
        self.assertIn('.sva-kunit-install); run sva-kunit uninstall', err)
        self.assertEqual(tree_state(self.tree), before)

    def test_interrupt_still_uninstalls(self):
        before = tree_state(self.tree)

        def interrupted(*args, **kwargs):
            self.assertTrue(os.path.exists(os.path.join(self.tree,
                                                        MANIFEST_NAME)))
            raise KeyboardInterrupt

        with mock.patch.object(cmd_bisect_step, 'run_suite', interrupted):
            rc, out, err = self.step()
        self.assertEqual(rc, EXIT_ABORT)  # no verdict: git stops
        self.assertEqual(tree_state(self.tree), before)

    def test_setup_errors_and_crashes_stop_the_bisection(self):
        a_file = os.path.join(self._tmp.name, 'a-file')
        write(self._tmp.name, 'a-file', b'not a directory\n')
        before = tree_state(self.tree)
        rc, out, err = self.step(f'--build-dir={a_file}')
        self.assertEqual(rc, EXIT_ABORT, out + err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith('sva-kunit: error: '), err)
        self.assertIn(a_file, err)
        self.assertEqual(tree_state(self.tree), before)

        def setup_error(*args, **kwargs):
            raise cmd_bisect_step.SetupError('no cross compiler', 'install')

        with mock.patch.object(cmd_bisect_step, 'run_suite', setup_error):
            rc, out, err = self.step()
        self.assertEqual(rc, EXIT_ABORT)
        self.assertEqual(err, 'sva-kunit: error: no cross compiler; '
                         'install\n')
        self.assertEqual(tree_state(self.tree), before)

    def test_usage_errors_stop_the_bisection(self):
        for argv in (['--bogus'], ['--jobs=0'], ['stray']):
            err = io.StringIO()
            rc = cli.main(['bisect-step', *argv], io.StringIO(), err,
                          repo_root=self.repo)
            self.assertEqual(rc, EXIT_ABORT, err.getvalue())
            self.assertEqual(len(err.getvalue().splitlines()), 1)


if __name__ == '__main__':
    unittest.main()
