import io
import os
import tarfile
import tempfile
import unittest
from unittest import mock

from . import cmd_check
from .upstream import module_run, series_test
from .cli_test import CliTestCase
from .errors import SetupError
from .run import suite_run
from .run.suite_run import RunOptions
from .testing_support import KASAN_IN_TEST_LOG, PASSING_LOG, git, write
from .tree import checkpatch, kernel_sources
from .tree.checkpatch import CheckpatchResult


def patch_resolve_tree(**how):
    # The checkpatch part finds the tree, and run_suite for the KUnit parts.
    return (mock.patch.object(cmd_check, 'resolve_tree', **how),
            mock.patch.object(suite_run, 'resolve_tree', **how))


class CheckTest(CliTestCase):

    def setUp(self) -> None:
        super().setUp()
        write(self.repo, 'drivers/iommu/fake-iommu/bad.h', b'/* bad */\n')

        def fake_unit_tests(options, out, tally):
            # The real ones are what is running this test; don't recurse.
            tally.passed += 10
        self.checked = []
        self.parts = []

        def fake_part(name):
            def part(options, out, tally):
                self.parts.append(name)
                tally.add(True)
            return part

        def fake_checkpatch(tree, repo_root, path):
            self.checked.append(path)
            return CheckpatchResult(path, not path.endswith('bad.h'),
                                    'ERROR: trailing whitespace')
        for patch in (mock.patch.object(cmd_check, 'run_unit_tests',
                                        fake_unit_tests),
                      mock.patch.object(checkpatch, 'run_checkpatch',
                                        fake_checkpatch),
                      *patch_resolve_tree(return_value=self.tree),
                      mock.patch.object(checkpatch, 'checkpatch_tree',
                                        return_value=self.tree),
                      mock.patch.object(cmd_check, 'run_series_part',
                                        fake_part('series')),
                      mock.patch.object(cmd_check, 'run_mutation_part',
                                        fake_part('mutants')),
                      mock.patch.object(cmd_check, 'run_bisect_part',
                                        fake_part('bisect'))):
            patch.start()
            self.addCleanup(patch.stop)

    def check(self, *extra):
        return self.main('check', f'--cache-dir={self.cache}', '--source=7.3',
                         '--skip-arm64', '--skip-x86_64', *extra)

    def test_counts_all_three_parts(self):
        rc, out, _ = self.check()
        # 10 unit tests; 4 C files, one failing; 2 KUnit cases + verdict;
        # the three faked parts.
        self.assertEqual(out.splitlines()[-1], '19 passed, 1 failed, 1 skipped')
        self.assertEqual(rc, 1)
        self.assertEqual(self.checked, [
            'drivers/iommu/fake-iommu/bad.h',
            'drivers/iommu/fake-iommu/fake-iommu.c',
            'drivers/iommu/fake-iommu/fake-iommu.h',
            'drivers/iommu/iommu-sva-test.c'])
        self.assertIn('FAIL drivers/iommu/fake-iommu/bad.h', out)
        self.assertIn('    ERROR: trailing whitespace', out)
        # The series, mutation and bisect parts, each counted by the fakes.
        self.assertEqual(self.parts, ['series', 'mutants', 'bisect'])
        for title in ('unit tests', 'checkpatch.pl --strict',
                      'KUnit suite on UML'):
            self.assertIn(title, out)

    def test_qemu_parts_run_the_suite_again_on_the_newest_tree(self):
        rc, out, _ = self.main('check', f'--cache-dir={self.cache}',
                               '--source=7.3')
        self.assertIn('KUnit suite on arm64 under QEMU (-smp 2, KCSAN), '
                      'Linux 7.3', out)
        self.assertIn('KUnit suite on x86_64 under QEMU (-smp 2), Linux 7.3',
                      out)
        # The KUnit part's 2 cases + verdict, twice more.
        self.assertEqual((rc, out.splitlines()[-1]),
                         (1, '25 passed, 1 failed, 1 skipped'))
        boots = [call['argv'] for call in self.calls()
                 if call['argv'][0] == 'exec']
        arches = [a for argv in boots for a in argv if a.startswith('--arch=')]
        self.assertEqual(arches,
                         ['--arch=um', '--arch=arm64', '--arch=x86_64'])
        # Two CPUs under QEMU, so that the race case runs in parallel.
        smp = [argv.count('--qemu_args=-smp 2') for argv in boots]
        self.assertEqual(smp, [0, 1, 1])
        # KCSAN, which excludes KASAN, on arm64 only; SMP on both.
        kcsan = ['--kconfig_add=CONFIG_KCSAN=y' in argv for argv in boots]
        self.assertEqual(kcsan, [False, True, False])
        self.assertTrue(all('--kconfig_add=CONFIG_SMP=y' in argv
                            for argv in boots[1:]))

    def test_race_part_boots_two_cpus_where_uml_has_smp(self):
        write(self.tree, 'arch/um/Kconfig', b'config SMP\n\tbool "SMP"\n')
        write(self.tree, 'arch/um/os-Linux/start_up.c',
              b'__uml_setup("seccomp=", uml_seccomp_config,\n')
        rc, out, _ = self.check()
        self.assertIn('KUnit race cases on UML with two CPUs (--smp), '
                      'Linux 7.3', out)
        # The suite's 2 cases + verdict, once more, and nothing skipped.
        self.assertEqual((rc, out.splitlines()[-1]),
                         (1, '22 passed, 1 failed'))
        calls = [call['argv'] for call in self.calls()]
        # Every build for SMP, so that the two-CPU boot needs no other.
        self.assertTrue(all('--kconfig_add=CONFIG_SMP=y' in argv
                            for argv in calls))
        boots = [argv for argv in calls if argv[0] == 'exec']
        self.assertEqual(len(boots), 2)
        self.assertNotIn('--kernel_args=ncpus=2', boots[0])
        for arg in ('ncpus=2', 'seccomp=on', 'kmemleak=off'):
            self.assertIn(f'--kernel_args={arg}', boots[1])
        self.assertEqual(boots[1][-1], 'iommu_sva_race*')

    def test_every_tree_by_default_qemu_only_on_the_newest(self):
        sources = []

        def resolve(options, out):
            sources.append((options.source, options.arch))
            return self.tree
        ours, run_suites = patch_resolve_tree(new=resolve)
        with ours, run_suites:
            rc, out, _ = self.main('check', f'--cache-dir={self.cache}')
        # checkpatch's, the UML runs, the race part's look at its UML.
        self.assertEqual(sources, [('7.3', 'um'), ('7.3', 'um'),
                                   ('6.12', 'um'), ('7.3', 'um'),
                                   ('7.3', 'arm64'),
                                   ('7.3', 'x86_64')])
        self.assertEqual(self.parts,
                         ['series', 'mutants', 'mutants', 'bisect'])
        for title in ('KUnit suite on UML, Linux 7.3',
                      'KUnit suite on UML, Linux 6.12',
                      'mutation testing (mutants/), Linux 6.12',
                      'git bisect run self-test, Linux 6.12'):
            self.assertIn(title, out)
        self.assertRegex(out, r'\(KUnit suite on UML, Linux 6.12: \d+ s\)')

    def test_skipped_kunit_cases_are_counted_as_skipped(self):
        def bisect(options, out, tally):
            tally.add(True, skipped=True)
            tally.add(False, skipped=True)
        with mock.patch.object(cmd_check, 'run_bisect_part', bisect):
            _, out, _ = self.check()
        self.assertEqual(out.splitlines()[-1],
                         '18 passed, 1 failed, 3 skipped')

    def test_skip_options_leave_parts_out(self):
        self.check('--skip-mutants', '--skip-bisect', '--skip-series')
        self.assertEqual(self.parts, [])
        self.check('--skip-kunit')
        self.assertEqual(self.parts, [])

    def test_passes_when_everything_passes(self):
        os.unlink(os.path.join(self.repo, 'drivers/iommu/fake-iommu/bad.h'))
        rc, out, _ = self.check()
        self.assertEqual((rc, out.splitlines()[-1]),
                         (0, '19 passed, 0 failed, 1 skipped'))

    def test_kernel_log_reports_fail_test_and_verdict(self):
        os.unlink(os.path.join(self.repo, 'drivers/iommu/fake-iommu/bad.h'))
        self.set_control(log=KASAN_IN_TEST_LOG)
        rc, out, _ = self.check()
        self.assertEqual((rc, out.splitlines()[-1]),
                         (1, '17 passed, 2 failed, 1 skipped'))
        self.assertIn('FAIL iommu_sva.iommu_sva_unbind', out)

    def test_a_log_that_ends_inside_a_test_fails(self):
        os.unlink(os.path.join(self.repo, 'drivers/iommu/fake-iommu/bad.h'))
        # Every finished test passed and no report was printed, but the
        # kernel died in the middle of the second test.
        self.set_control(log=PASSING_LOG.split('    ok 2 ')[0])
        rc, out, _ = self.check()
        self.assertEqual((rc, out.splitlines()[-1]),
                         (1, '17 passed, 1 failed, 1 skipped'))
        self.assertIn('the log ends inside', out)

    def test_skip_kunit(self):
        with mock.patch.object(checkpatch, 'checkpatch_tree',
                               return_value=self.tree) as small, \
                mock.patch.object(cmd_check, 'resolve_tree') as resolve:
            rc, out, _ = self.main('check', '--skip-kunit',
                                   f'--cache-dir={self.cache}')
        self.assertEqual(out.splitlines()[-1], '13 passed, 1 failed')
        self.assertNotIn('KUnit suite on UML', out)
        self.assertEqual(self.calls(), [])
        # Only checkpatch's files of the tree, not the whole tree.
        resolve.assert_not_called()
        self.assertEqual(small.call_args.args[:2], (self.cache, '7.3'))

    def test_the_kunit_parts_share_the_whole_tree_with_checkpatch(self):
        with mock.patch.object(checkpatch, 'checkpatch_tree') as small:
            self.main('check', f'--cache-dir={self.cache}', '--source=6.12',
                      '--skip-arm64', '--skip-x86_64')
        small.assert_not_called()
        self.assertEqual([c['argv'][0] for c in self.calls()],
                         ['config', 'build', 'exec'])

    def test_build_failure_counts_as_one_failure(self):
        os.unlink(os.path.join(self.repo, 'drivers/iommu/fake-iommu/bad.h'))
        self.set_control(fail='build', log='')
        rc, out, _ = self.check()
        self.assertEqual((rc, out.splitlines()[-1]),
                         (1, '16 passed, 1 failed, 1 skipped'))

    def test_setup_error_still_ends_with_tally(self):
        ours, run_suites = patch_resolve_tree(side_effect=SetupError(
            'missing Debian packages: bc', 'x'))
        with ours, run_suites:
            rc, out, _ = self.check()
        self.assertEqual((rc, out.splitlines()[-1]),
                         (1, '13 passed, 3 failed'))
        self.assertIn('sva-kunit: error: missing Debian packages: bc; x', out)


class CSourcesTest(unittest.TestCase):

    def test_finds_c_and_h_but_not_junk(self):
        with tempfile.TemporaryDirectory() as repo:
            for rel in ('drivers/a.c', 'drivers/b.h', 'drivers/c.c~',
                        '.git/x.c', 'scripts/__pycache__/y.c',
                        'tools/z.py'):
                write(repo, rel, b'')
            self.assertEqual(checkpatch.c_sources(repo),
                             ['drivers/a.c', 'drivers/b.h'])

    def test_command_line(self):
        self.assertEqual(checkpatch.checkpatch_command('/k', 'drivers/a.c'),
                         ['perl', '/k/scripts/checkpatch.pl', '--strict',
                          '--no-tree', '-f', 'drivers/a.c'])


class CheckpatchTreeTest(unittest.TestCase):

    def test_installed_package_gives_its_files(self):
        sources = checkpatch.kernel_sources
        with mock.patch.object(sources, 'needed', return_value=False), \
                mock.patch.object(sources, 'ensure_packages',
                                  return_value={'linux-source-6.12': '6.1'}
                                  ) as packages, \
                mock.patch.object(sources, 'ensure_tree',
                                  return_value='/c/files/x') as files:
            found = checkpatch.checkpatch_tree('/c', '6.12', io.StringIO())
        self.assertEqual(found, '/c/files/x')
        self.assertEqual(packages.call_args.args[1], ('linux-source-6.12',))
        self.assertEqual(files.call_args.args[:3],
                         ('/c', 'linux-source-6.12', '6.1'))
        self.assertEqual(files.call_args.kwargs,
                         {'members': checkpatch.CHECKPATCH_FILES})

    def test_fetched_package_gives_its_files(self):
        sources = checkpatch.kernel_sources
        with mock.patch.object(sources, 'needed', return_value=True), \
                mock.patch.object(sources, 'fetched_tree',
                                  return_value='/c/files/y') as fetched:
            found = checkpatch.checkpatch_tree('/c', '7.3', io.StringIO())
        self.assertEqual(found, '/c/files/y')
        self.assertEqual(fetched.call_args.kwargs,
                         {'members': checkpatch.CHECKPATCH_FILES,
                          'into': None})

    def test_the_files_are_what_checkpatch_pl_reads(self):
        self.assertEqual(checkpatch.CHECKPATCH_FILES[0],
                         'scripts/checkpatch.pl')
        self.assertIn('scripts/spelling.txt', checkpatch.CHECKPATCH_FILES)
        self.assertIn('scripts/const_structs.checkpatch',
                      checkpatch.CHECKPATCH_FILES)


class UnitTestPartTest(unittest.TestCase):

    def test_counts_a_discovered_suite(self):
        class Two(unittest.TestCase):
            def test_ok(self):
                pass

            def test_bad(self):
                self.fail('x')
        tally = cmd_check.Tally()
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(Two)
        with mock.patch.object(unittest.TestLoader, 'discover',
                               return_value=suite):
            cmd_check.run_unit_tests(None, io.StringIO(), tally)
        self.assertEqual((tally.passed, tally.failed), (1, 1))


class KunitconfigAtTest(unittest.TestCase):

    def test_only_the_options_a_revision_defines(self):
        with tempfile.TemporaryDirectory() as tree:
            os.makedirs(os.path.join(tree, 'lib'))
            with open(os.path.join(tree, 'lib', 'Kconfig.debug'), 'w') as f:
                f.write('config KUNIT\n\tbool\n\nmenuconfig KASAN\n\tbool\n')
            git(tree, 'init', '-q')
            git(tree, 'add', '-A')
            git(tree, 'commit', '-q', '-m', 'base')
            final = ('CONFIG_KUNIT=y\n# comment\nCONFIG_KASAN=y\n'
                     'CONFIG_IOMMU_SVA_KUNIT_TEST=y\n')
            self.assertEqual(cmd_check.kunitconfig_at(tree, 'HEAD', final),
                             'CONFIG_KUNIT=y\nCONFIG_KASAN=y\n')
            with open(os.path.join(tree, 'Kconfig'), 'w') as f:
                f.write('config FAKE_IOMMU\n\ttristate "f"\n'
                        'config IOMMU_SVA_KUNIT_TEST_X\n\tbool\n')
            git(tree, 'add', '-A')
            git(tree, 'commit', '-q', '-m', 'driver')
            # IOMMU_SVA_KUNIT_TEST_X is not IOMMU_SVA_KUNIT_TEST.
            self.assertEqual(cmd_check.kunitconfig_at(tree, 'HEAD', final),
                             'CONFIG_KUNIT=y\nCONFIG_KASAN=y\n'
                             'CONFIG_FAKE_IOMMU=y\n')


FAKE_KUNIT_PY = r'''import glob, os, sys
args = dict(a[2:].split('=', 1) for a in sys.argv[2:] if '=' in a)
path = args['kunitconfig']
module = os.path.isfile(path) and 'FAKE_IOMMU=m' in open(path).read()
for c in (['drivers/iommu/fake-iommu/fake-iommu.c',
           *glob.glob('drivers/iommu/iommu-sva*test.c')] if module else
          glob.glob('drivers/**/*.c', recursive=True)):
    built = os.path.join(args['build_dir'], c[:-2] + ('.ko' if module
                                                      else '.o'))
    os.makedirs(os.path.dirname(built), exist_ok=True)
    open(built, 'w').close()
'''


class SeriesPartTest(unittest.TestCase):

    def test_every_step_on_a_fake_tree(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        src = os.path.join(tmp.name, 'linux-source-7.3')
        files = dict(series_test.KERNEL)
        files.update({
            'lib/Kconfig.debug': 'config KUNIT\n\tbool\n',
            'scripts/checkpatch.pl':
                'print "total: 0 errors, 0 warnings, 0 checks, 9 lines";',
            'scripts/get_maintainer.pl':
                'print "iommu\\@lists.linux.dev (maintainer:IOMMU '
                'SUBSYSTEM)";',
            'tools/testing/kunit/kunit.py': FAKE_KUNIT_PY})
        series_test.write_files(src, files)
        tarball = os.path.join(tmp.name, 'linux.tar')
        with tarfile.open(tarball, 'w') as tar:
            tar.add(src, 'linux-source-7.3')
        project = os.path.join(tmp.name, 'project')
        series_test.write_files(project,
                                          series_test.PROJECT)
        options = RunOptions(cache_dir=tmp.name, repo_root=project,
                             source='7.3')
        out = io.StringIO()
        tally = cmd_check.Tally(out=out)
        loaded = module_run.ModuleRun(True, ['8 suites passed'], '')
        with mock.patch.object(kernel_sources, 'source_tree',
                               return_value=tarball) as source_tree, \
                mock.patch.object(module_run, 'run_modules',
                                  return_value=loaded) as run_modules:
            cmd_check.run_series_part(options, out, tally)
        # checkpatch.pl's SPDX check needs ply; without it, it is skipped.
        self.assertLessEqual({'python3-ply', 'python3-git', 'busybox-static'},
                             set(source_tree.call_args.args[3]))
        # format-patch, git am, 6 checkpatch, get_maintainer, 6 builds,
        # the modules built, the modules run, kunit.py run.
        self.assertEqual((tally.passed, tally.failed), (18, 0),
                         out.getvalue())
        build_dir = run_modules.call_args.args[0]
        self.assertEqual(os.path.basename(build_dir), 'build-module')
        self.assertIn('PASS the suite loads as modules and passes',
                      out.getvalue())
        self.assertIn('series: modules: 8 suites passed', out.getvalue())
        self.assertIn('PASS builds after patch 3 (iommu: Add KUnit tests '
                      'for the SVA lifecycle)', out.getvalue())
        self.assertRegex(out.getvalue(), r'patch 2 .*: kunit.py build exit 0'
                         r' in \d+ s; of 1 expected files missing: \[\]')
        self.assertFalse(os.path.exists(os.path.join(tmp.name,
                                                     'series-check')))


class CheckpatchVerdictTest(unittest.TestCase):

    def test_clean_needs_no_warning_and_no_check(self):
        self.assertTrue(cmd_check.CHECKPATCH_CLEAN.search(
            'x\ntotal: 0 errors, 0 warnings, 0 checks, 19 lines checked\n'))
        for line in ('total: 0 errors, 1 warnings, 0 checks, 19 lines',
                     'total: 0 errors, 0 warnings, 2 checks, 19 lines'):
            self.assertFalse(cmd_check.CHECKPATCH_CLEAN.search(line))

    def test_a_helper_that_died_is_not_clean(self):
        clean = 'total: 0 errors, 0 warnings, 0 checks, 19 lines checked\n'
        self.assertTrue(cmd_check.checkpatch_clean(0, clean))
        self.assertFalse(cmd_check.checkpatch_clean(1, clean))
        died = ('Traceback (most recent call last):\n  File "scripts/'
                'spdxcheck.py", line 6, in <module>\nModuleNotFoundError: '
                "No module named 'ply'\n")
        self.assertFalse(cmd_check.checkpatch_clean(0, died + clean))


if __name__ == '__main__':
    unittest.main()
