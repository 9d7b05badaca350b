"""End-to-end tests of the command line against fake trees.

kunit.py is replaced by a tiny script (testing_support.FAKE_KUNIT_PY), so
these exercise the real subprocess, streaming and judging code paths in
well under a second, with no kernel build.
"""

import io
import json
import os
import tempfile
import unittest
from typing import Any, Dict, List, Optional
from unittest import mock

from . import cli
from .run import suite_run
from .testing_support import (FAILING_LOG, KASAN_IN_TEST_LOG, PASSING_LOG,
                              install_fake_kunit, make_fake_repo,
                              make_fake_tree, snapshot, write)
from .tree import kernel_sources
from .tree.kernel_sources import SOURCES
from .tree.manifest import MANIFEST_NAME


def which_all(tool: str, path: Optional[str] = None) -> Optional[str]:
    return '/usr/bin/' + tool


class CliTestCase(unittest.TestCase):
    """A fake tree with a fake kunit.py, a fake repo and a cache dir."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        tmp = self._tmp.name
        self.tree = make_fake_tree(os.path.join(tmp, 'linux'))
        install_fake_kunit(self.tree)
        self.repo = make_fake_repo(os.path.join(tmp, 'repo'))
        self.cache = os.path.join(tmp, 'cache')
        self.control = os.path.join(tmp, 'control.json')
        self.set_control(log=PASSING_LOG)
        patches = [mock.patch.dict(os.environ,
                                   {'FAKE_KUNIT_CONTROL': self.control}),
                   mock.patch('shutil.which', which_all)]
        for patch in patches:
            patch.start()
            self.addCleanup(patch.stop)

    def set_control(self, **control: Any) -> None:
        with open(self.control, 'w') as f:
            json.dump(control, f)

    def calls(self) -> List[Dict[str, Any]]:
        try:
            with open(self.control + '.calls') as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def main(self, *argv: str) -> tuple:
        out, err = io.StringIO(), io.StringIO()
        rc = cli.main(list(argv), out, err, repo_root=self.repo)
        return rc, out.getvalue(), err.getvalue()

    def run_cmd(self, *extra: str) -> tuple:
        return self.main('run', f'--kernel={self.tree}',
                         f'--cache-dir={self.cache}', *extra)


class RunTest(CliTestCase):

    def test_passing_run(self):
        rc, out, err = self.run_cmd('--jobs=3')
        self.assertEqual((rc, err), (0, ''))
        self.assertEqual(out.splitlines()[-1], 'sva-kunit: PASS: 2 tests '
                         'passed; kernel log clean')
        self.assertIn('Starting KUnit Kernel', out)  # streamed through
        config, build_call, call = self.calls()
        argv = call['argv']
        build = kernel_sources.build_dir_for(self.cache, self.tree)
        self.assertEqual(config['argv'][:5], [
            'config', '--kunitconfig=drivers/iommu',
            '--kunitconfig=tools/testing/kunit/configs/iommu_sva.config',
            f'--build_dir={build}', '--arch=um'])
        self.assertEqual(build_call['argv'][:6], [
            'build', *config['argv'][1:5], '--jobs=3'])
        self.assertEqual(argv[:6], [
            'exec', *config['argv'][1:5], '--kernel_args=kasan_multi_shot'])
        for c in (config, build_call, call):
            self.assertIn('--make_options=CC=ccache gcc', c['argv'])
            self.assertEqual(os.path.realpath(c['cwd']),
                             os.path.realpath(self.tree))
        # The payload was synced into the tree first.
        self.assertTrue(os.path.isfile(os.path.join(
            self.tree, 'drivers/iommu/fake-iommu/fake-iommu.c')))

    def test_options_reach_kunit_py(self):
        json_path = os.path.join(self._tmp.name, 'out.json')
        build = os.path.join(self._tmp.name, 'b')
        rc, out, _ = self.run_cmd('--no-ccache', '--filter=iommu_sva.bind*',
                                  f'--json={json_path}',
                                  f'--build-dir={build}',
                                  '--kconfig-add=CONFIG_KASAN=y',
                                  '--kconfig-add=CONFIG_PROVE_LOCKING=y')
        self.assertEqual(rc, 0, out)
        argv = self.calls()[2]['argv']
        self.assertEqual(argv[3:], [
            f'--build_dir={build}', '--arch=um',
            '--kernel_args=kasan_multi_shot', f'--json={json_path}',
            '--kconfig_add=CONFIG_DETECT_HUNG_TASK=y',
            '--kconfig_add=CONFIG_DEFAULT_HUNG_TASK_TIMEOUT=0',
            '--kconfig_add=CONFIG_SOFTLOCKUP_DETECTOR=y',
            '--kconfig_add=CONFIG_KASAN=y',
            '--kconfig_add=CONFIG_PROVE_LOCKING=y', 'iommu_sva.bind*'])
        self.assertFalse(any(a.startswith('--make_options') for a in argv))

    def test_kernel_args_reach_kunit_py(self):
        rc, out, _ = self.run_cmd(
            '--no-ccache', '--kernel-arg=iommu_sva_model_test.soak_seeds=5',
            '--kernel-arg=kunit.timeout=900', '--run-timeout=3600')
        self.assertEqual(rc, 0, out)
        argv = self.calls()[2]['argv']
        at = argv.index('--kernel_args=kasan_multi_shot')
        self.assertEqual(argv[at + 1:at + 4], [
            '--kernel_args=iommu_sva_model_test.soak_seeds=5',
            '--kernel_args=kunit.timeout=900', '--timeout=3600'])

    def test_json_is_kunit_pys_and_the_verdict_reads_the_log(self):
        json_path = os.path.join(self._tmp.name, 'out.json')
        self.set_control(log=PASSING_LOG, json={'sub_groups': []})
        rc, out, _ = self.run_cmd(f'--json={json_path}')
        self.assertEqual(rc, 0)
        self.assertIn('PASS: 2 tests passed', out.splitlines()[-1])
        with open(json_path) as f:
            self.assertEqual(json.load(f), {'sub_groups': []})
        # Without --json, no --json for kunit.py either.
        self.run_cmd()
        self.assertFalse(any(a.startswith('--json') for a in
                             self.calls()[-1]['argv']))

    def test_kasan_in_ok_test_fails(self):
        self.set_control(log=KASAN_IN_TEST_LOG)
        rc, out, _ = self.run_cmd()
        self.assertEqual(rc, 1)
        self.assertIn('iommu_sva.iommu_sva_unbind: KUnit said ok but the '
                      'kernel log has KASAN', out)
        self.assertEqual(out.splitlines()[-1], 'sva-kunit: FAIL: 1 of 2 tests '
                         'failed (iommu_sva.iommu_sva_unbind); kernel log: 1 '
                         'report(s) during tests')

    def test_failing_test(self):
        self.set_control(log=FAILING_LOG, rc=1)
        rc, out, _ = self.run_cmd()
        self.assertEqual(rc, 1)
        self.assertIn('1 of 2 tests failed (iommu_sva.iommu_sva_unbind); '
                      'kernel log clean', out.splitlines()[-1])

    def test_build_and_config_failures_say_which(self):
        for stage, words in (('build', 'build the kernel'),
                             ('config', 'configure the kernel')):
            self.set_control(fail=stage, log='')
            rc, out, _ = self.run_cmd()
            self.assertEqual(rc, 1)
            self.assertEqual(out.splitlines()[-1], 'sva-kunit: FAIL: '
                             f'kunit.py failed to {words} (exit 1); see its '
                             'output above')

    def test_stale_test_log_is_not_judged(self):
        self.assertEqual(self.run_cmd()[0], 0)
        self.set_control(fail='build', log='')
        self.assertEqual(self.run_cmd()[0], 1)

    def test_no_tests_ran(self):
        self.set_control(log='Linux version 6.12\nKernel panic - not syncing'
                         ': boom\n', rc=1)
        rc, out, _ = self.run_cmd()
        self.assertEqual(rc, 1)
        self.assertIn('FAIL: no KUnit test results', out.splitlines()[-1])

    def test_kunit_failure_without_failed_tests(self):
        self.set_control(log=PASSING_LOG, rc=1)
        rc, out, _ = self.run_cmd()
        self.assertEqual(rc, 1)
        self.assertIn('kunit.py exited with 1 although all 2 tests passed',
                      out)

    def assert_setup_error(self, result: tuple, message: str) -> None:
        rc, out, err = result
        self.assertEqual(rc, 2)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith('sva-kunit: error: '), err)
        self.assertIn(message, err)
        self.assertEqual(self.calls(), [])

    def test_bad_trees_are_untouched(self):
        before = snapshot(self._tmp.name)
        self.assert_setup_error(self.main('run', f'--kernel={self.repo}'),
                                'is not a kernel tree')
        self.assert_setup_error(self.main('run', '--kernel=/nonexistent'),
                                'is not a directory')
        os.unlink(os.path.join(self.tree, 'tools/testing/kunit/kunit.py'))
        self.assert_setup_error(self.run_cmd(), 'has no tools/testing/kunit/'
                                'kunit.py')
        install_fake_kunit(self.tree)
        write(self.tree, 'include/linux/iommu.h', b'struct iommu_sva;\n')
        self.assert_setup_error(self.run_cmd(), 'the tree lacks what the '
                                'suite needs: struct iommu_mm_data (v6.8, SVA '
                                'domains per mm) in include/linux/iommu.h')
        self.assertEqual(snapshot(self._tmp.name).keys(), before.keys())

    def test_missing_host_tools(self):
        with mock.patch('shutil.which', lambda t: None if t == 'bison'
                        else '/usr/bin/' + t):
            self.assert_setup_error(self.run_cmd(), 'missing host tools: '
                                    'bison; install them with: sudo apt-get '
                                    'install -y bison')

    def test_unsupported_arch(self):
        for arch in ('riscv', 'i386', ''):
            self.assert_setup_error(self.run_cmd(f'--arch={arch}'),
                                    f"argument --arch: '{arch}' is not "
                                    'supported (supported: um, arm64, '
                                    'x86_64)')

    def test_arm64_cross_compiles_with_its_own_ccache_compiler(self):
        with mock.patch.object(suite_run, 'ensure_packages') as ensure:
            rc, out, _ = self.run_cmd('--arch=arm64')
        self.assertEqual(rc, 0, out)
        ensure.assert_called_once()
        self.assertEqual(ensure.call_args.args[1],
                         ('gcc-aarch64-linux-gnu', 'qemu-system-arm'))
        argv = self.calls()[0]['argv']
        build = kernel_sources.build_dir_for(self.cache, self.tree)
        self.assertIn(f'--build_dir={build}-arm64', argv)
        self.assertIn('--arch=arm64', argv)
        self.assertIn('--cross_compile=aarch64-linux-gnu-', argv)
        self.assertIn('--make_options=CC=ccache aarch64-linux-gnu-gcc', argv)

    def test_ccache_runs_in_depend_mode_unless_the_user_chose(self):
        self.assertEqual(suite_run.ccache_env({}, True),
                         {'CCACHE_DEPEND': '1'})
        self.assertEqual(suite_run.ccache_env({'CCACHE_DEPEND': '0'}, True),
                         {'CCACHE_DEPEND': '0'})
        self.assertEqual(suite_run.ccache_env({'A': 'b'}, False), {'A': 'b'})

    def test_qemu_args_reach_kunit_py(self):
        with mock.patch.object(suite_run, 'ensure_packages'):
            rc, out, _ = self.run_cmd('--arch=arm64', '--qemu-args=-smp 2')
        self.assertEqual(rc, 0, out)
        argv = self.calls()[0]['argv']
        # The arch's own QEMU arguments first, so the user's can override.
        qemu = [a for a in argv if a.startswith('--qemu_args=')]
        self.assertEqual(qemu, ['--qemu_args=-cpu max,pauth-impdef=on',
                                '--qemu_args=-smp 2'])

    def test_usage_errors_exit_2_in_one_line(self):
        self.assert_setup_error(self.run_cmd('--kconfig-add=KASAN'),
                                "'KASAN' is not of the form CONFIG_X=y")
        self.assert_setup_error(self.run_cmd('--jobs=0'),
                                "argument --jobs: '0' is not from 1 to 4096")
        self.assert_setup_error(self.main('install'),
                                'the following arguments are required: '
                                '--kernel')
        self.assert_setup_error(self.main('frobnicate'), 'invalid choice')

    def test_foreign_file_stops_run(self):
        write(self.tree, 'drivers/iommu/iommu-sva-test.c', b'// theirs\n')
        before = snapshot(self.tree)
        self.assert_setup_error(self.run_cmd(), 'iommu-sva-test.c already '
                                'exists and was not installed by sva-kunit')
        self.assertEqual(snapshot(self.tree), before)

    def test_source_6_12_installs_the_package_with_apt(self):
        with mock.patch.object(kernel_sources, 'ensure_packages',
                               return_value={'linux-source-6.12': '6.12.1'}
                               ) as packages, \
                mock.patch.object(kernel_sources, 'ensure_tree',
                                  return_value=self.tree) as ensure:
            rc, out, _ = self.main('run', f'--cache-dir={self.cache}',
                                   '--source=6.12')
        self.assertEqual(rc, 0, out)
        packages.assert_called_once()
        self.assertIn('linux-source-6.12', packages.call_args[0][1])
        self.assertEqual(ensure.call_args[0][:3],
                         (self.cache, 'linux-source-6.12', '6.12.1'))

    def test_default_source_is_fetched_when_apt_lacks_it(self):
        with mock.patch.object(kernel_sources, 'ensure_packages'
                               ) as packages, \
                mock.patch.object(kernel_sources, 'needed',
                                  return_value=True), \
                mock.patch.object(kernel_sources, 'fetched_tree',
                                  return_value=self.tree) as fetched:
            rc, out, _ = self.main('run', f'--cache-dir={self.cache}')
        self.assertEqual(rc, 0, out)
        self.assertFalse(any(p.startswith('linux-source')
                             for p in packages.call_args[0][1]))
        cache, source, _ = fetched.call_args[0]
        self.assertEqual((cache, source.package, source.suite),
                         (self.cache, 'linux-source-7.3', 'trixie-backports'))

    def test_default_source_from_the_machines_apt_when_it_has_it(self):
        with mock.patch.object(kernel_sources, 'ensure_packages',
                               return_value={'linux-source-7.3': '7.3.4-1'}
                               ) as packages, \
                mock.patch.object(kernel_sources, 'needed',
                                  return_value=False), \
                mock.patch.object(kernel_sources,
                                  'fetched_tree') as fetched, \
                mock.patch.object(kernel_sources, 'ensure_tree',
                                  return_value=self.tree) as ensure:
            rc, out, _ = self.main('run', f'--cache-dir={self.cache}')
        self.assertEqual(rc, 0, out)
        fetched.assert_not_called()
        self.assertIn('linux-source-7.3', packages.call_args[0][1])
        self.assertEqual(ensure.call_args[0][1:3],
                         ('linux-source-7.3', '7.3.4-1'))

    def test_source_and_kernel_conflict(self):
        for command in ('run', 'bench', 'mutate'):
            self.assert_setup_error(
                self.main(command, f'--kernel={self.tree}', '--source=6.12'),
                'argument --source: not allowed with argument --kernel')

    def test_unknown_source(self):
        for command in ('run', 'bench', 'mutate', 'bisect-selftest'):
            self.assert_setup_error(
                self.main(command, '--source=5.10'), '--source=5.10 is not '
                'supported (supported: 7.3, 6.12, 7.2)')

    def test_no_subcommand_is_one_line(self):
        rc, out, err = self.main()
        self.assertEqual((rc, out), (2, ''))
        self.assertEqual(err, 'sva-kunit: error: no subcommand given (one of '
                         'run, install, uninstall, check, bench, mutate, '
                         'bisect-step, bisect-selftest, format-patch); see '
                         'sva-kunit --help\n')

    def test_source_help_names_every_source(self):
        with self.assertRaises(SystemExit), \
                mock.patch.dict(os.environ, {'COLUMNS': '1000'}), \
                mock.patch('sys.stdout', io.StringIO()) as out:
            cli.main(['run', '--help'])
        for version, source in SOURCES.items():
            self.assertIn(f'{version} ({source.package}, ', out.getvalue())
        self.assertIn('7.3 (linux-source-7.3, fetched from trixie-backports',
                      out.getvalue())

    def test_every_subcommand_has_help(self):
        for command in cli.SUBCOMMANDS:
            with self.assertRaises(SystemExit) as cm, \
                    mock.patch('sys.stdout', io.StringIO()):
                cli.main([command.name, '--help'])
            self.assertEqual(cm.exception.code, 0)


class InstallCommandTest(CliTestCase):

    def test_install_dry_run_install_uninstall(self):
        before = snapshot(self.tree)
        rc, out, _ = self.main('install', f'--kernel={self.tree}',
                               '--dry-run')
        self.assertEqual(rc, 0)
        self.assertIn('sva-kunit: would create directory '
                      'drivers/iommu/fake-iommu', out)
        self.assertEqual(snapshot(self.tree), before)
        self.assertEqual(self.main('install', f'--kernel={self.tree}')[0], 0)
        self.assertTrue(os.path.exists(os.path.join(self.tree,
                                                    MANIFEST_NAME)))
        rc, out, _ = self.main('install', f'--kernel={self.tree}')
        self.assertIn('nothing to do, already installed', out)
        self.assertEqual(self.main('uninstall', f'--kernel={self.tree}')[0],
                         0)
        self.assertEqual(snapshot(self.tree), before)
        rc, out, _ = self.main('uninstall', f'--kernel={self.tree}')
        self.assertEqual(rc, 0)
        self.assertIn('nothing to do, already uninstalled', out)

    def test_install_errors_exit_2(self):
        write(self.tree, 'drivers/iommu/Kconfig', b'config X\n')
        rc, _, err = self.main('install', f'--kernel={self.tree}')
        self.assertEqual(rc, 2)
        self.assertIn("has no line 'endif # IOMMU_SUPPORT'", err)
        rc, _, err = self.main('uninstall', f'--kernel={self.repo}')
        self.assertEqual(rc, 2)
        self.assertIn('is not a kernel tree', err)


if __name__ == '__main__':
    unittest.main()
