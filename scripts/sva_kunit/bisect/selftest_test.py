"""The bisect self-test's history builder, its parser of git's output,
and one whole self-test on a fake tarball with a fake kunit.py."""

import io
import os
import shutil
import sys
import tarfile
import tempfile
import unittest
from unittest import mock

from . import selftest as bs
from ..testing_support import (FAILING_LOG, PASSING_LOG, make_fake_repo,
                              make_fake_tree, write)
from ..tree.payload import default_repo_root

SCRIPTS_DIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SVA_C = (b'// sva\nstatic int bind(void)\n{\n\tif (handle) {\n'
         b'\t\trefcount_inc(&handle->users);\n\t\treturn 0;\n\t}\n}\n')

# Builds "fail" when the self-test's build break is in, tests fail when
# the planted bug (mutant 08) took refcount_inc() away; as `kunit.py run`
# or as its config, build and exec steps.
CONTENT_AWARE_KUNIT_PY = '''#!/usr/bin/env python3
import os, sys
opts = dict(a[2:].split('=', 1) for a in sys.argv[1:]
            if a.startswith('--') and '=' in a)
step = sys.argv[1]
with open('drivers/iommu/iommu-sva.c') as f:
    sva = f.read()
if step in ('run', 'config'):
    print('[12:00:00] Configuring KUnit Kernel ...')
if step in ('run', 'build'):
    print('[12:00:01] Building KUnit Kernel ...')
    if 'bisect_selftest_breaks_the_build' in sva:
        sys.exit(1)
if step not in ('run', 'exec'):
    sys.exit(0)
print('[12:00:02] Starting KUnit Kernel (1/1)...')
bad = 'refcount_inc(&handle->users);' not in sva
with open(os.path.join(opts['build_dir'], 'test.log'), 'w') as f:
    f.write(%r if bad else %r)
sys.exit(1 if bad else 0)
''' % (FAILING_LOG, PASSING_LOG)

# bisect-step as git bisect run starts it, but with every host tool
# "installed" and the fake payload.
STEP_WRAPPER = '''import sys
from unittest import mock
sys.path.insert(0, %r)
from sva_kunit import cli
with mock.patch('shutil.which', lambda tool: '/usr/bin/' + tool):
    sys.exit(cli.main(sys.argv[1:], repo_root=%r))
'''


def git(tree: str, *args: str) -> str:
    return bs.run_git(tree, *args)


def load_bug() -> bs.mutants.Mutant:
    return bs.mutants.select(bs.mutants.load_catalogue(default_repo_root()),
                             [bs.BUG_MUTANT])[0]


def make_kernel(root: str) -> str:
    make_fake_tree(root)
    write(root, 'drivers/iommu/iommu-sva.c', SVA_C)
    write(root, 'Documentation/arch/x86/sva.rst', b'SVA\n===\n')
    write(root, 'Documentation/userspace-api/iommufd.rst', b'iommufd\n')
    write(root, '.gitignore', b'.*\n!.gitignore\n*.o\n#\n# Debian '
          b'packaging: ignore everything at the top level\n#\n/*\n'
          b'!/debian/\n')
    return root


class HistoryTest(unittest.TestCase):

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.tree = make_kernel(os.path.join(self._tmp.name, 'linux'))

    def test_history_on_a_fake_tree(self):
        base = bs.init_repo(self.tree)
        self.assertEqual(git(self.tree, 'status', '--porcelain',
                             '--ignored'), '')
        self.assertIn('.gitignore', git(self.tree, 'ls-files'))
        bug = load_bug()
        commits = bs.build_history(self.tree, bug)
        self.assertGreaterEqual(len(commits), 8)
        self.assertEqual(git(self.tree, 'rev-list', '--count', 'HEAD'),
                         str(len(commits) + 1))
        self.assertEqual(git(self.tree, 'rev-parse',
                             f'HEAD~{len(commits)}'), base)
        kinds = [kind for kind, _ in bs.HISTORY]
        self.assertEqual(kinds.count(bs.BUG), 1)
        self.assertLess(kinds.index(bs.BREAK), kinds.index(bs.FIX))
        self.assertLess(kinds.index(bs.FIX), kinds.index(bs.BUG))
        self.assertGreater(kinds.index(bs.FIX), kinds.index(bs.BREAK) + 1)
        self.assertLess(kinds.index(bs.BUG), len(kinds) - 1)
        bug_sha = commits[bs.BUG_INDEX]
        # The bug commit removes exactly the refcount_inc() line.
        diff = git(self.tree, 'show', '--format=', '-U0', bug_sha)
        self.assertEqual([line for line in diff.splitlines()
                          if line[:1] in '+-' and line[:3] not in
                          ('+++', '---')],
                         ['-\t\trefcount_inc(&handle->users);'])
        # The fix undoes the break byte for byte.
        fix = commits[kinds.index(bs.FIX)]
        before_break = commits[kinds.index(bs.BREAK) - 1]
        self.assertEqual(git(self.tree, 'diff', before_break, fix, '--',
                             bs.SVA_C), '')
        self.assertEqual(git(self.tree, 'status', '--porcelain'), '')

    def test_mutant_that_does_not_fit_is_a_setup_error(self):
        write(self.tree, 'drivers/iommu/iommu-sva.c', b'// no handle\n')
        bs.init_repo(self.tree)
        with self.assertRaises(bs.SetupError) as cm:
            bs.build_history(self.tree, load_bug())
        self.assertIn('"bisect-selftest: bug in drivers/iommu/iommu-sva.c" '
                      'commit', str(cm.exception))


GIT_BISECT_OUTPUT = '''running  '/r/scripts/sva-kunit' 'bisect-step'
sva-kunit: installed the suite in /t (9 changes; nothing committed)
sva-kunit bisect-step: 1a2b3c4 good (12 tests passed; kernel log clean) in 41 s
Bisecting: 1 revision left to test after this (roughly 1 step)
[0123456789abcdef0123456789abcdef01234567] iommu/sva: plant the bug
running  '/r/scripts/sva-kunit' 'bisect-step'
sva-kunit bisect-step: 0123456 bad (1 of 12 tests failed (x); kernel log: \
1 report(s) during tests) in 52 s
sva-kunit bisect-step: abcdef0 skip (kunit.py failed to build the kernel \
(exit 1)) in 9 s
0123456789abcdef0123456789abcdef01234567 is the first bad commit
commit 0123456789abcdef0123456789abcdef01234567
bisect found first bad commit
'''


class ParseTest(unittest.TestCase):

    def test_parse_found(self):
        self.assertEqual(bs.parse_bisect_output(GIT_BISECT_OUTPUT), (
            '0123456789abcdef0123456789abcdef01234567',
            ['good', 'bad', 'skip'], [41, 52, 9]))

    def test_parse_undecided(self):
        text = ("There are only 'skip'ped commits left to test.\n"
                'The first bad commit could be any of:\n'
                '0123456789abcdef0123456789abcdef01234567\n')
        self.assertEqual(bs.parse_bisect_output(text), (None, [], []))


class WholeSelftestTest(unittest.TestCase):
    """git bisect run with the real bisect-step, on a fake kernel."""

    def selftest(self, tmp: str, kunit_py: str, out: io.StringIO,
                 keep: bool = False) -> int:
        """run_selftest on a fake 6.12 tarball whose kunit.py is kunit_py,
        with a checkout whose scripts/sva-kunit installs the fake
        repository's payload."""
        tree = make_kernel(os.path.join(tmp, 'linux-source-6.12'))
        write(tree, 'tools/testing/kunit/kunit.py', kunit_py.encode(), 0o755)
        tarball = os.path.join(tmp, 'linux.tar')
        with tarfile.open(tarball, 'w') as tar:
            tar.add(tree, arcname='linux-source-6.12')
        repo = make_fake_repo(os.path.join(tmp, 'repo'))
        checkout = os.path.join(tmp, 'checkout')
        write(checkout, 'scripts/sva-kunit', (f'#!{sys.executable}\n' +
              STEP_WRAPPER % (SCRIPTS_DIR, repo)).encode(), 0o755)
        shutil.copytree(os.path.join(default_repo_root(), 'mutants'),
                        os.path.join(checkout, 'mutants'))
        with mock.patch.object(bs.kernel_sources, 'source_tree',
                               return_value=tarball):
            return bs.run_selftest(bs.SelftestOptions(
                cache_dir=os.path.join(tmp, 'cache'), repo_root=checkout,
                keep=keep), out)

    def test_finds_the_bug_and_cleans_up(self):
        with tempfile.TemporaryDirectory() as tmp:
            cache = os.path.join(tmp, 'cache')
            out = io.StringIO()
            rc = self.selftest(tmp, CONTENT_AWARE_KUNIT_PY, out)
            last = out.getvalue().splitlines()[-1]
            self.assertEqual(rc, 0, out.getvalue())
            self.assertRegex(last, r'^bisect-selftest: PASS: found the bug '
                             r'commit [0-9a-f]{12} \(mutant '
                             r'no-handle-refcount-inc\); \d steps \(')
            self.assertIn('cold build', last)
            # cleaned up (lock files may stay under locks/)
            self.assertEqual(set(os.listdir(cache)) - {'locks'}, set())

    def test_keep_and_fail_when_the_bug_is_not_caught(self):
        with tempfile.TemporaryDirectory() as tmp:
            cache = os.path.join(tmp, 'cache')
            out = io.StringIO()
            # A kunit.py that always passes: git bisect run cannot find a
            # bad commit.
            rc = self.selftest(tmp, CONTENT_AWARE_KUNIT_PY.replace(
                "'refcount_inc(&handle->users);' not in sva", 'False'),
                out, keep=True)
            self.assertEqual(rc, 1)
            self.assertRegex(out.getvalue().splitlines()[-2],
                             r'^bisect-selftest: kept ')
            self.assertRegex(out.getvalue().splitlines()[-1],
                             r'^bisect-selftest: FAIL: git bisect named '
                             r'[0-9a-f]{12} as the first bad commit, not '
                             r'the bug commit')
            [kept] = set(os.listdir(cache)) - {'locks'}
            self.assertTrue(kept.startswith('bisect-selftest-'))


if __name__ == '__main__':
    unittest.main()
