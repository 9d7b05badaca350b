"""`sva-kunit mutate` end to end, with the fake kunit.py (no kernel)."""

import json
import os
import re
import signal
import time
import unittest
from unittest import mock

from . import cmd_mutate
from .mutation import campaign
from .cli_test import CliTestCase
from .locks import sigterm_as_interrupt
from .mutation import mutation_journal
from .mutation.mutants import load_catalogue
from .testing_support import FAILING_LOG, PASSING_LOG, snapshot, write
from .tree import kernel_sources

SVA = 'drivers/iommu/iommu-sva.c'
CATALOGUE = {
    'mutants/01-kill-me.mutant':
        'Name: kill-me\nTrees: 6.12 7.3\nInvariant: I2,I9\n'
        'Fix: 0123456789ab\nFile: ' + SVA +
        '\nDescription: the suite fails on it\n'
        '@@ find\n// sva\n@@ replace\n// KILLED\n',
    'mutants/02-known.mutant':
        'Name: known\nTrees: 6.12 7.3\nInvariant: I8\n'
        'File: drivers/iommu/iommu.c\n'
        'Description: unreachable\nSurvivor: cannot be reached\n'
        '@@ find\n// core\n@@ replace\n// core, mutated\n',
    'mutants/03-misfit.mutant':
        'Name: misfit\nTrees: 6.12 7.3\nInvariant: I1\nFile: ' + SVA +
        '\nDescription: x\n'
        '@@ find\nnot in the file\n@@ replace\n',
}
LOCKDEP_THEN_HANG = PASSING_LOG.split('    ok 2')[0] + (
    'WARNING: possible recursive locking detected\n')


class MutateTestCase(CliTestCase):

    def setUp(self):
        super().setUp()
        for rel, text in CATALOGUE.items():
            write(self.repo, rel, text.encode())
        self.killing(log=FAILING_LOG, rc=1)
        self.sources = self.source_snapshot()

    def killing(self, **then):
        """The fake kernel fails like this while kill-me is in."""
        self.set_control(log=PASSING_LOG, when=[{
            'file': SVA, 'contains': 'KILLED', 'then': then}])

    def source_snapshot(self):
        return {rel: snap for rel, snap in snapshot(self.tree).items()
                if rel.endswith('.c') and 'iommu-sva-test' not in rel
                and 'fake-iommu' not in rel}

    def mutate(self, *extra):
        return self.main('mutate', f'--kernel={self.tree}',
                         f'--cache-dir={self.cache}', *extra)

    def assert_restored(self):
        self.assertEqual(self.source_snapshot(), self.sources)
        self.assertFalse(os.path.exists(
            mutation_journal.journal_path(self.tree)))


class MutateTest(MutateTestCase):

    def test_list_needs_no_tree(self):
        rc, out, err = self.main('mutate', '--list', '--kernel=/nonexistent')
        self.assertEqual((rc, err), (0, ''))
        self.assertEqual(out.splitlines(), [
            'kill-me  I2,I9  trees 6.12 7.3  fix 0123456789ab',
            'known    I8     trees 6.12 7.3  (known survivor)',
            'misfit   I1     trees 6.12 7.3'])
        self.assertEqual(self.calls(), [])

    def test_every_kind_of_result(self):
        json_path = os.path.join(self._tmp.name, 'results.json')
        rc, out, err = self.mutate(f'--json={json_path}')
        self.assertEqual((rc, err), (1, ''), out)  # misfit did not apply
        # baseline + 2 mutants, each config, build and exec
        self.assertEqual(len(self.calls()), 9)
        self.assert_restored()
        # Seconds are rounded: a loaded machine may take one.
        lines = [re.sub(r'in \d s', 'in 0 s', line)
                 for line in out.splitlines()]
        # A misfit is known before any build.
        self.assertIn("sva-kunit: [1/3] misfit: no-apply in 0 s: hunk 1 of 1 "
                      "('not in the file') not found in " + SVA, lines)
        self.assertIn('sva-kunit: [2/3] kill-me: killed in 0 s: '
                      'iommu_sva.iommu_sva_unbind', lines)
        self.assertIn('sva-kunit: [3/3] known: survived (known survivor) in '
                      '0 s', lines)
        # The fake iommu-sva.c has no function body to switch.
        self.assertIn('sva-kunit: kill-me: built by patching, since it '
                      'changes code outside a function body (a declaration, '
                      'a macro, a struct or a function boundary)', lines)
        self.assertTrue(any(re.match(r'kill-me +I2,I9 +killed +iommu_sva'
                                     r'\.iommu_sva_unbind +\d+$', line)
                            for line in lines), out)
        self.assertTrue(lines[-1].startswith(
            'sva-kunit: 3 mutants: 1 killed, 1 survived, 1 no-apply; kill '
            'rate 1/2 = 50% (killed / (total - 1 known survivors)); '), out)
        with open(json_path) as f:
            data = json.load(f)
        self.assertEqual([m['result'] for m in data['mutants']],
                         ['killed', 'survived', 'no-apply'])
        # kunit.py's output went to a log per mutant, not the terminal.
        log = data['mutants'][0]['log']
        with open(log) as f:
            self.assertIn('Starting KUnit Kernel', f.read())
        with open(log.replace('.log', '.test.log')) as f:
            self.assertEqual(f.read(), FAILING_LOG)

    def test_all_killed_or_known_exits_0(self):
        rc, out, _ = self.mutate('--only=known', '--only=kill-me')
        self.assertEqual(rc, 0, out)
        self.assertIn('kill rate 1/1 = 100%', out.splitlines()[-1])

    def test_filter_runs_only_those_tests_for_baseline_and_mutants(self):
        rc, out, _ = self.mutate('--only=kill-me', "--filter=iommu_sva_model*")
        self.assertEqual(rc, 0, out)
        boots = [call['argv'] for call in self.calls()
                 if call['argv'][0] == 'exec']
        self.assertEqual([argv[-1] for argv in boots],
                         ['iommu_sva_model*', 'iommu_sva_model*'])
        # The cases picked run as deep as in `run`.
        self.assertFalse(any('iommu_sva_model_test.depth' in arg
                             for argv in boots for arg in argv))

    def test_ordinary_survivor_exits_1(self):
        self.killing()  # kill-me no longer fails anything
        rc, out, _ = self.mutate('--only=kill-me')
        self.assertEqual(rc, 1)
        self.assertIn('kill-me: survived', out)

    def test_build_error(self):
        self.killing(fail='build')
        rc, out, _ = self.mutate('--only=kill-me')
        self.assertEqual(rc, 1)
        self.assertIn('kill-me: build-error in 0 s: kunit.py failed to '
                      'build the kernel (exit 1)', out)
        self.assert_restored()

    def test_deadlocked_kernel_is_killed_by_the_timeout(self):
        self.killing(log=LOCKDEP_THEN_HANG, hang='run')
        rc, out, _ = self.mutate('--only=kill-me', '--timeout=0.5')
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r'kill-me: killed \(timeout\) in \d+ s: '
                         r'iommu_sva.<test #2> / lockdep\n')
        self.assert_restored()

    def test_timeout_while_building(self):
        self.killing(hang='build')
        rc, out, _ = self.mutate('--only=kill-me', '--timeout=0.5')
        self.assertEqual(rc, 1)
        self.assertIn('kill-me: timeout', out)
        self.assert_restored()

    def test_red_baseline_stops_before_any_mutant(self):
        self.set_control(log=FAILING_LOG, rc=1)
        rc, out, err = self.mutate()
        self.assertEqual(rc, 2)
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn('the unmutated kernel does not pass (FAIL: 1 of 2 '
                      'tests failed', err)
        self.assertIn('green baseline', err)
        self.assertEqual(len(self.calls()), 3)  # the baseline's stages
        self.assert_restored()

    def test_ctrl_c_during_a_mutant_restores_the_tree(self):
        real = campaign.run_suite
        seen = []

        def runner(options, out, env=None, tree=None, **kwargs):
            if seen:  # the baseline passes; the first mutant is interrupted
                with open(os.path.join(tree, SVA)) as f:
                    seen.append(f.read())
                raise KeyboardInterrupt
            seen.append('baseline')
            return real(options, out, env, tree, **kwargs)
        with mock.patch.object(campaign, 'run_suite', runner):
            rc, _, err = self.mutate()
        self.assertEqual((rc, err), (130, 'sva-kunit: interrupted\n'))
        self.assertEqual(seen, ['baseline', '// KILLED\n'])
        self.assert_restored()

    def test_sigterm_unwinds_like_ctrl_c(self):
        before = signal.getsignal(signal.SIGTERM)
        with self.assertRaises(KeyboardInterrupt):
            with sigterm_as_interrupt():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler interrupts this
        self.assertEqual(signal.getsignal(signal.SIGTERM), before)

    def test_the_real_catalogue_lists(self):
        rc, out, _ = self.main('mutate', '--list')  # the checkout's own
        self.assertEqual(rc, 0)
        self.assertEqual(len(out.splitlines()), 3)  # repo_root is the fake
        self.assertGreaterEqual(len(load_catalogue(
            cmd_mutate.__file__.rsplit('/scripts/', 1)[0])), 25)


class RepairTest(MutateTestCase):
    """Other commands repair a tree that a killed `mutate` left mutated."""

    def crash_mid_mutant(self):
        [kill_me] = [m for m in load_catalogue(self.repo)
                     if m.name == 'kill-me']
        mutation_journal.apply(self.tree, kill_me)  # ... then SIGKILL

    def test_run_repairs_first(self):
        self.crash_mid_mutant()
        rc, out, _ = self.run_cmd()
        self.assertEqual(rc, 0, out)  # the suite ran on the original
        self.assertEqual(out.splitlines()[0], f'sva-kunit: repaired {SVA} '
                         'left mutated by an interrupted mutate run')
        self.assert_restored()

    def test_mutate_repairs_first(self):
        self.crash_mid_mutant()
        rc, out, _ = self.mutate('--only=known')
        self.assertEqual(rc, 0, out)
        self.assertIn(f'sva-kunit: repaired {SVA}', out)
        self.assert_restored()

    def test_install_dry_run_and_uninstall(self):
        before = snapshot(self.tree)
        self.assertEqual(self.main('install', f'--kernel={self.tree}')[0], 0)
        self.crash_mid_mutant()
        mutated = snapshot(self.tree)
        rc, out, _ = self.main('install', f'--kernel={self.tree}',
                               '--dry-run')
        self.assertEqual(rc, 0)
        self.assertIn(f'sva-kunit: would repair {SVA}', out)
        self.assertEqual(snapshot(self.tree), mutated)
        rc, out, _ = self.main('uninstall', f'--kernel={self.tree}')
        self.assertEqual(rc, 0, out)
        self.assertIn(f'sva-kunit: repaired {SVA}', out)
        self.assertEqual(snapshot(self.tree), before)

    def test_someone_elses_edit_stops_everything(self):
        self.crash_mid_mutant()
        write(self.tree, SVA, b'// my edit\n')
        before = snapshot(self.tree)
        for argv in (('run', f'--kernel={self.tree}',
                      f'--cache-dir={self.cache}'),
                     ('mutate', f'--kernel={self.tree}',
                      f'--cache-dir={self.cache}'),
                     ('install', f'--kernel={self.tree}')):
            rc, _, err = self.main(*argv)
            self.assertEqual(rc, 2, argv)
            self.assertEqual(len(err.splitlines()), 1)
            self.assertIn('was changed by someone else', err)
        self.assertEqual(snapshot(self.tree), before)
        self.assertEqual(self.calls(), [])


if __name__ == '__main__':
    unittest.main()


# A source file with a function body, so that its mutant can be switched.
SWITCHABLE_SVA = ('// sva\n#include <linux/iommu.h>\n\nstatic int bind(void)\n'
                  '{\n\treturn 0;\n}\n')
SWITCHED = ('mutants/01-kill-me.mutant',
            'Name: kill-me\nTrees: 6.12 7.3\nInvariant: I2\nFile: ' + SVA +
            '\nDescription: d\n@@ find\n\treturn 0;\n@@ replace\n'
            '\treturn 1; /* MUTATED */\n')


class SchemataTest(MutateTestCase):
    """The switched way end to end: one build, a boot per mutant with its
    number on the kernel command line, in a directory of its own."""

    def setUp(self):
        super().setUp()
        write(self.tree, SVA, SWITCHABLE_SVA.encode())
        write(self.repo, SWITCHED[0], SWITCHED[1].encode())
        self.sources = self.source_snapshot()

    def rules(self, switched: bool = True, patched: bool = True, **then):
        """kill-me fails the suite when its switch is on, or when it is
        patched in (the file has the mutant but no switch)."""
        then = then or dict(log=FAILING_LOG, rc=1)
        when = [{'arg': 'sva_kunit_mutant=1', 'then': then}] * switched + [
            {'file': SVA, 'contains': 'MUTATED', 'lacks': 'sva_kunit_mutant',
             'then': then}] * patched
        self.set_control(log=PASSING_LOG, when=when)

    def test_a_switched_mutant_costs_one_boot(self):
        self.rules()
        rc, out, err = self.mutate('--only=kill-me')
        self.assertEqual((rc, err), (0, ''), out)
        self.assertIn('sva-kunit: baseline: the unmutated schemata kernel (1 '
                      'mutants switched in 1 files, 0 built by patching)',
                      out)
        config, build, baseline, boot = self.calls()
        self.assertIn('--kconfig_add=CONFIG_DETECT_HUNG_TASK=y',
                      build['argv'])
        # Run's idle timeout first, the armed one after it: kunit.py keeps
        # the last, so the build differs from run's by that one option.
        self.assertLess(
            build['argv'].index(
                '--kconfig_add=CONFIG_DEFAULT_HUNG_TASK_TIMEOUT=0'),
            build['argv'].index(
                '--kconfig_add=CONFIG_DEFAULT_HUNG_TASK_TIMEOUT=10'))
        self.assertEqual(boot['argv'][0], 'exec')
        self.assertIn('--kernel_args=sva_kunit_mutant=1', boot['argv'])
        self.assertIn('--kernel_args=watchdog_thresh=5', boot['argv'])
        # The model's exhaustive case, shallower in every mutant boot.
        for call in (baseline, boot):
            self.assertIn('--kernel_args=iommu_sva_model_test.budget_ms=5500',
                          call['argv'])
        self.assertNotIn('--kernel_args=sva_kunit_mutant=1',
                         baseline['argv'])
        slot = [a for a in boot['argv'] if a.startswith('--build_dir=')][0]
        self.assertTrue(slot.endswith('-mutants/boots/0'), slot)
        self.assertIn('kill-me: killed', out)
        self.assert_restored()

    def test_a_two_cpu_mutant_boots_two_cpus_alone(self):
        write(self.tree, 'arch/um/Kconfig', b'config SMP\n')
        write(self.tree, 'arch/um/os-Linux/start_up.c',
              b'__uml_setup("seccomp=", uml_seccomp_config,\n')
        write(self.repo, SWITCHED[0], SWITCHED[1].replace(
            'Description:', 'Cpus: 2\nDescription:').encode())
        self.rules()
        rc, out, err = self.mutate('--only=kill-me')
        self.assertEqual((rc, err), (0, ''), out)
        _, _, baseline, boot = self.calls()
        self.assertIn('--kernel_args=ncpus=2', boot['argv'])
        self.assertIn('--kernel_args=seccomp=on', boot['argv'])
        self.assertNotIn('--kernel_args=ncpus=2', baseline['argv'])
        self.assertIn('kill-me: killed', out)

    def test_verify_compares_with_the_patched_way(self):
        self.rules()
        rc, out, _ = self.mutate('--only=kill-me', '--verify=all')
        self.assertEqual(rc, 0, out)
        self.assertIn('sva-kunit: verify: kill-me: killed by switch, killed '
                      'by patching', out)
        self.rules(patched=False)
        rc, out, _ = self.mutate('--only=kill-me', '--verify=kill-me')
        self.assertEqual(rc, 1, out)
        self.assertIn('killed by switch, survived by patching: DIFFERENT',
                      out)
        self.assert_restored()

    def test_a_hang_without_a_report_is_no_kill(self):
        self.rules(hang='run', log=PASSING_LOG.split('    ok 2')[0])
        with mock.patch.object(campaign, 'BOOT_LIMIT_MARGIN_S', 1.0):
            rc, out, _ = self.mutate('--only=kill-me')
        self.assertEqual(rc, 1, out)
        self.assertIn('kill-me: timeout in', out)
        self.assertIn('timeout, no evidence in the kernel log', out)
        self.assert_restored()

    def test_a_hang_with_a_report_is_killed_by_its_evidence(self):
        self.rules(hang='run', log=LOCKDEP_THEN_HANG)
        with mock.patch.object(campaign, 'BOOT_LIMIT_MARGIN_S', 1.0):
            rc, out, _ = self.mutate('--only=kill-me')
        self.assertEqual(rc, 0, out)
        self.assertIn('kill-me: killed (timeout)', out)
        self.assert_restored()

    def test_bench_times_both_ways_in_one_run(self):
        self.rules()
        json_path = os.path.join(self._tmp.name, 'bench.json')
        rc, out, err = self.main('bench', '--mutants', f'--json={json_path}',
                                 f'--kernel={self.tree}',
                                 f'--cache-dir={self.cache}')
        self.assertEqual((rc, err), (0, ''), out)
        self.assertRegex(out.splitlines()[-1], r'^bench: 3 mutants: [0-9.]+ '
                         r's per mutant switched \(1 built by patching\), '
                         r'[0-9.]+ s by patching; ratio [0-9.]+; verdicts '
                         r'differ for 0; target <= 8 s per mutant: met$')
        with open(json_path) as f:
            self.assertEqual(json.load(f)['verdicts_differ'], 0)
        self.assert_restored()


    def test_a_new_mutation_build_starts_from_runs(self):
        self.rules()
        run_build = kernel_sources.build_dir_for(self.cache, self.tree)
        write(run_build, 'linux', b'#!/bin/true\n', 0o755)
        write(run_build, '.config', b'CONFIG_KUNIT=y\n')
        write(run_build, 'kernel/fork.o', b'object\n')
        rc, out, _ = self.mutate('--only=kill-me')
        self.assertEqual(rc, 0, out)
        self.assertIn(f'starting {run_build}-mutants as a copy of '
                      f'{run_build}', out)
        with open(os.path.join(run_build + '-mutants', 'kernel/fork.o')) as f:
            self.assertEqual(f.read(), 'object\n')
        # Only once: then it is a build directory of its own.
        rc, out, _ = self.mutate('--only=kill-me')
        self.assertNotIn('as a copy of', out)

    def test_schemata_that_fail_where_the_plain_kernel_passes(self):
        # As if the generator broke the file: every mutant is patched.
        self.set_control(log=PASSING_LOG, when=[
            {'file': SVA, 'contains': 'sva_kunit_mutant',
             'then': dict(log=FAILING_LOG, rc=1)},
            {'file': SVA, 'contains': 'MUTATED', 'lacks': 'sva_kunit_mutant',
             'then': dict(log=FAILING_LOG, rc=1)}])
        rc, out, _ = self.mutate('--only=kill-me')
        self.assertEqual(rc, 0, out)
        self.assertIn('where the unmutated kernel passes: every mutant is '
                      'built by patching', out)
        self.assertIn('kill-me: killed', out)
        self.assert_restored()
