"""Every bad input is one line and the command's error exit (2; 128 for
bisect-step) before any work: nothing fetched, locked, installed or built,
the tree and the cache as they were, and never a traceback.

Table-driven, against a fake kernel git tree whose kunit.py is the
stand-in of testing_support (it records every call: there must be none).
"""

import io
import json
import os
import shutil
import subprocess
import sys
import unittest
from typing import Dict, List, Optional, Tuple
from unittest import mock

from . import cli, cmd_bisect_step, cmd_run
from .cmd_bisect_step import EXIT_ABORT
from .cmd_bisect_step_test import make_git_tree
from .cmd_mutate_test import CATALOGUE
from .cli_test import CliTestCase
from .errors import DEBUG_ENV
from .testing_support import git, make_fake_tree, snapshot, write
from .tree.fs_journal import JOURNAL_LIMIT, sha256
from .tree.manifest import MANIFEST_NAME

USAGE, ABORT = 2, EXIT_ABORT
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'sva-kunit')

# (argv, exit code, what the one line must say).  {tree} is a kernel git
# tree, {cache} the cache, {tmp} a scratch directory, {file} a file in it.
BAD_OPTIONS: List[Tuple[Tuple[str, ...], int, str]] = [
    # Output files: written at the end, so checked at the start.
    (('run', '--json=/nonexistent/dir/x.json'), USAGE,
     'argument --json: /nonexistent/dir is not a directory'),
    (('run', '--json={tmp}'), USAGE, 'argument --json: {tmp} is a '
     'directory'),
    (('run', '--json={tmp}/'), USAGE, 'is not a file name'),
    (('run', '--json={file}/x.json'), USAGE, '{file} is not a directory'),
    (('mutate', '--json={tmp}'), USAGE, 'argument --json: {tmp} is a '
     'directory'),
    (('mutate', '--json=/nonexistent/x.json'), USAGE,
     '/nonexistent is not a directory'),
    (('bench', '--json=/nonexistent/x.json'), USAGE,
     '/nonexistent is not a directory'),
    (('bench', '--json={tmp}'), USAGE, 'is a directory'),
    # A glob never becomes an option of kunit.py, nor two words.
    (('run', '--filter=--json=/some/path'), USAGE, 'is not a test glob'),
    (('run', '--filter=--help'), USAGE, 'is not a test glob'),
    (('run', '--filter=-x'), USAGE, 'is not a test glob'),
    (('run', '--filter=iommu_sva bind'), USAGE, 'is not a test glob'),
    (('run', '--filter=a\nb'), USAGE, 'is not a test glob'),
    (('run', '--filter=iommu"sva'), USAGE, 'is not a test glob'),
    (('run', '--filter=' + 'x' * 257), USAGE, 'is not a test glob'),
    (('run', '--filter=\xff'), USAGE, 'is not a test glob'),
    (('run', '--kernel-arg=foo="'), USAGE, 'is not one kernel command'),
    (('mutate', '--filter=--help'), USAGE, 'is not a test glob'),
    (('bisect-step', '--filter=--help'), ABORT, 'is not a test glob'),
    (('bisect-step', '--filter=--json=/x'), ABORT, 'is not a test glob'),
    # Numbers in range.
    (('run', '--run-timeout=0'), USAGE, "--run-timeout: '0' is not from 1"),
    (('run', '--run-timeout=-5'), USAGE, "'-5' is not from 1"),
    (('run', '--run-timeout=99999999'), USAGE, 'is not from 1 to 604800'),
    (('run', '--run-timeout=1e3'), USAGE, 'is not a whole number'),
    (('run', '--jobs=99999999999999999999999'), USAGE,
     'argument --jobs: \'99999999999999999999999\' is not a whole number'),
    (('run', '--jobs=0'), USAGE, 'is not from 1 to 4096'),
    (('run', '--jobs=1.5'), USAGE, 'is not a whole number'),
    (('run', '--repeat=0'), USAGE, 'argument --repeat'),
    (('run', '--repeat=10000000'), USAGE, 'is not from 1 to 1000000'),
    (('mutate', '--timeout=0'), USAGE, 'argument --timeout'),
    (('mutate', '--timeout=-1'), USAGE, 'argument --timeout'),
    (('mutate', '--timeout=nan'), USAGE, 'argument --timeout'),
    (('mutate', '--timeout=inf'), USAGE, 'argument --timeout'),
    (('mutate', '--timeout=ten'), USAGE, 'argument --timeout'),
    (('mutate', '--jobs=-1'), USAGE, 'argument --jobs'),
    (('bisect-step', '--jobs=0'), ABORT, 'argument --jobs'),
    (('bisect-step', '--jobs=99999999999999999999999'), ABORT,
     'argument --jobs'),
    # What kunit.py or the kernel command line would parse otherwise.
    (('run', '--kconfig-add=CONFIG_KASAN=y # x'), USAGE,
     'is not of the form CONFIG_X=y'),
    (('run', '--kconfig-add=KASAN=y'), USAGE, 'is not of the form'),
    (('run', '--kconfig-add=CONFIG_KASAN='), USAGE, 'is not of the form'),
    (('run', '--kconfig-add=CONFIG_A=y\nCONFIG_B=y'), USAGE,
     'is not of the form'),
    (('bench', '--kconfig-add=CONFIG_KASAN=y # x'), USAGE,
     'is not of the form'),
    (('run', '--kernel-arg=a b'), USAGE, 'is not one kernel command line '
     'argument'),
    (('run', '--kernel-arg='), USAGE, 'is not one kernel command line'),
    (('run', "--qemu-args='-smp 2", '--arch=arm64'), USAGE,
     'cannot be split into arguments'),
    (('run', '--qemu-args=-smp 2'), USAGE, '--qemu-args with --arch=um, '
     'which runs no QEMU'),
    (('run', '--arch=riscv'), USAGE, "argument --arch: 'riscv' is not "
     'supported'),
    (('bench', '--arch=x86'), USAGE, 'is not supported'),
    (('run', '--source=9.9'), USAGE, '--source=9.9 is not supported'),
    (('check', '--source=6.1'), USAGE, '--source=6.1 is not supported'),
    (('mutate', '--only=no-such-mutant'), USAGE, 'no mutant named '
     'no-such-mutant'),
    # Paths: directories that are files, paths kbuild cannot build in.
    (('run', '--build-dir={file}'), USAGE, 'argument --build-dir: {file} '
     'is not a directory'),
    (('run', '--build-dir={file}/sub'), USAGE, 'cannot be made: {file} is '
     'not a directory'),
    (('run', '--build-dir={tmp}/a b'), USAGE, 'kbuild cannot build in a '
     'path with a blank or a colon'),
    (('run', '--build-dir={tmp}/a:b'), USAGE, 'kbuild cannot build'),
    (('mutate', '--build-dir={file}'), USAGE, 'is not a directory'),
    (('bisect-step', '--build-dir={file}'), ABORT, 'is not a directory'),
    (('run', '--cache-dir={file}'), USAGE, 'argument --cache-dir: {file} '
     'is not a directory'),
    (('run', '--cache-dir=/proc/x'), USAGE, '/proc/x'),
    (('install', '--cache-dir=/proc/x'), USAGE, '/proc/x'),
    (('bisect-step', '--cache-dir={file}'), ABORT, 'is not a directory'),
    (('bisect-step', '--cache-dir=/proc/x'), ABORT, '/proc/x'),
    # Unknown options and stray words.
    (('run', '--bogus'), USAGE, 'unrecognized arguments: --bogus'),
    (('run', 'stray'), USAGE, 'unrecognized arguments: stray'),
    (('bisect-step', '--bogus'), ABORT, 'unrecognized arguments'),
    (('bisect-step', 'stray'), ABORT, 'unrecognized arguments'),
    (('frobnicate',), USAGE, 'invalid choice'),
    ((), USAGE, 'no subcommand given'),
    (('--bogus', 'bisect-step'), ABORT, 'unrecognized arguments'),
    (('run', '--kernel='), USAGE, "argument --kernel: '' is not a path"),
    (('run', '--build-dir=/' + 'x' * 300), USAGE, 'is not a path'),
    (('run', '--cache-dir={tree}'), USAGE, 'is inside the kernel tree'),
    (('run', '--cache-dir={tree}/.cache'), USAGE, 'is inside the kernel '
     'tree'),
    (('install', '--cache-dir={tree}', '--dry-run'), USAGE, 'is inside the '
     'kernel tree'),
    (('bisect-step', '--cache-dir={tree}/.cache'), ABORT, 'is inside the '
     'tree'),
    (('bisect-step', '--build-dir={tree}/.kbuild'), ABORT, 'is inside the '
     'tree'),
    (('run', '--json={tree}/Makefile'), USAGE, 'is inside the kernel tree'),
    (('run', '--filter', 'bisect-step', '--jobs=0'), USAGE, 'argument '
     '--jobs'),
    (('format-patch',), USAGE, 'the following arguments are required: '
     '--kernel'),
    (('format-patch', '--kernel={tmp}'), USAGE, 'is not the top of a git '
     'work tree'),
    (('format-patch', '--kernel={tree}', '-o', '{file}'), USAGE,
     'is not a directory'),
]

# Commands that take --kernel and --cache-dir get those of the fixture
# unless the case names its own.
WITH_TREE = ('run', 'mutate', 'bench', 'install', 'uninstall')


class BadInputTest(CliTestCase):

    def setUp(self) -> None:
        super().setUp()
        tmp = self._tmp.name
        # A kernel git tree, for bisect-step and format-patch too.
        make_git_tree(self.tree)
        for rel, text in CATALOGUE.items():
            write(self.repo, rel, text.encode())
        self.scratch = os.path.join(tmp, 'scratch')
        os.mkdir(self.scratch)
        self.file = os.path.join(tmp, 'a-file')
        write(tmp, 'a-file', b'not a directory\n')
        os.makedirs(self.cache)
        self.places = dict(tree=self.tree, cache=self.cache,
                           tmp=self.scratch, file=self.file)

    def state(self, locks: bool = False) -> tuple:
        """The tree, the cache and the scratch directory; with locks, less
        the lock files, which a command that found a bad state in the
        tree or build directory took first (they hold nothing)."""
        snaps = (snapshot(self.tree), snapshot(self.cache),
                 snapshot(self.scratch))
        if not locks:
            return snaps
        return tuple({rel: v for rel, v in snap.items()
                      if not (rel == 'locks' or rel.startswith('locks/')
                              or rel.endswith('.sva-kunit.lock'))}
                     for snap in snaps)

    def expand(self, text: str) -> str:
        return text.format(**self.places)

    def argv(self, words: Tuple[str, ...]) -> List[str]:
        argv = [self.expand(word) for word in words]
        if not argv or argv[0].startswith('-'):
            return argv
        named = {word.split('=')[0] for word in argv}
        if argv[0] in WITH_TREE and '--kernel' not in named and (
                '--source' not in named):
            argv.append(f'--kernel={self.tree}')
        if argv[0] in (*WITH_TREE, 'bisect-step') and (
                '--cache-dir' not in named):
            argv.append(f'--cache-dir={self.cache}')
        if argv[0] == 'bisect-step' and '--kernel' not in named:
            argv.append(f'--kernel={self.tree}')
        return argv

    def assert_refused(self, argv: List[str], code: int, says: str,
                       env: Optional[Dict[str, str]] = None,
                       locks: bool = False) -> None:
        before = self.state(locks)
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, env or {}):
            rc = cli.main(argv, out, err, repo_root=self.repo)
        what = f'{argv}: exit {rc}, stdout {out.getvalue()!r}, stderr ' \
            f'{err.getvalue()!r}'
        self.assertEqual(rc, code, what)
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 1, what)
        self.assertTrue(lines[0].startswith('sva-kunit: error: '), what)
        self.assertIn(self.expand(says), lines[0], what)
        self.assertNotIn('Traceback', out.getvalue() + err.getvalue())
        self.assertEqual(self.state(locks), before, what)
        self.assertEqual(self.calls(), [], f'{argv}: kunit.py ran')

    def test_bad_options(self):
        for words, code, says in BAD_OPTIONS:
            with self.subTest(argv=words):
                self.assert_refused(self.argv(words), code, says)

    def test_cache_from_the_environment_that_is_a_file(self):
        for command in ('run', 'bench', 'bisect-selftest', 'mutate'):
            with self.subTest(command=command):
                self.assert_refused([command], USAGE, f'{self.file} is not '
                                    'a directory (from $SVA_KUNIT_CACHE)',
                                    {'SVA_KUNIT_CACHE': self.file})

    def test_paths_with_a_blank_are_refused_before_work(self):
        spaced = make_fake_tree(os.path.join(self.scratch, 'sp ace', 'tree'))
        for command in ('run', 'mutate', 'bench'):
            with self.subTest(command=command):
                self.assert_refused(
                    [command, f'--kernel={spaced}',
                     f'--cache-dir={self.cache}'], USAGE,
                    f'--kernel={spaced}: kbuild cannot build in a path '
                    'with a blank')
        self.assert_refused(['bisect-selftest',
                             f'--cache-dir={self.scratch}/c d'], USAGE,
                            'kbuild cannot build')

    def test_bisect_step_needs_a_kernel_tree_not_a_skip(self):
        other = os.path.join(self.scratch, 'other')
        write(other, 'README', b'not a kernel\n')
        git(other, 'init', '-q')
        git(other, 'add', '-A')
        git(other, 'commit', '-q', '-m', 'x')
        for kernel, says in ((other, 'is not a kernel tree'),
                             (os.path.join(self.tree, 'drivers'),
                              'is not a kernel tree'),
                             (self.file, 'is not inside a git work tree')):
            with self.subTest(kernel=kernel):
                self.assert_refused(['bisect-step', f'--kernel={kernel}',
                                     f'--cache-dir={self.cache}'], ABORT,
                                    says)

    def test_no_git_on_path(self):
        empty = os.path.join(self.scratch, 'empty-bin')
        os.mkdir(empty)
        with mock.patch.dict(os.environ, {'PATH': empty}):
            self.assert_refused(['format-patch', f'--kernel={self.tree}',
                                 '-o', os.path.join(self.scratch, 'out')],
                                USAGE, 'git not found on PATH')
            self.assert_refused(['bisect-step', f'--kernel={self.tree}',
                                 f'--cache-dir={self.cache}'], ABORT,
                                'git not found on PATH')

    def test_build_dir_holding_the_wrong_kind_of_file(self):
        build = os.path.join(self.scratch, 'build')
        for name in ('test.log', 'repeat-logs', 'mutants'):
            with self.subTest(name=name):
                os.makedirs(build)
                if name == 'test.log':
                    os.mkdir(os.path.join(build, name))
                else:
                    write(build, name, b'a file\n')
                self.assert_refused(self.argv(('run', f'--build-dir={build}',
                                               '--repeat=2')), USAGE,
                                    f'{build}/{name} is not a', locks=True)
                shutil.rmtree(build)

    def test_help_in_a_bisection_stops_it(self):
        git(self.tree, 'bisect', 'start')
        self.addCleanup(git, self.tree, 'bisect', 'reset')
        cwd = os.getcwd()
        self.addCleanup(os.chdir, cwd)
        for where, argv in (
                (self.tree, ['bisect-step', '--help']),
                (os.path.join(self.tree, 'drivers'), ['-h', 'bisect-step']),
                (self.scratch, ['bisect-step', f'--kernel={self.tree}',
                                '--help'])):
            os.chdir(where)
            with self.subTest(argv=argv), \
                    mock.patch('sys.stdout', io.StringIO()):
                rc = cli.main(argv, io.StringIO(), io.StringIO(),
                              repo_root=self.repo)
                self.assertEqual(rc, ABORT)
        # Outside a bisection, help is help.
        git(self.tree, 'bisect', 'reset')
        os.chdir(self.tree)
        with self.assertRaises(SystemExit) as cm, \
                mock.patch('sys.stdout', io.StringIO()):
            cli.main(['bisect-step', '--help'], io.StringIO(), io.StringIO(),
                     repo_root=self.repo)
        self.assertEqual(cm.exception.code, 0)

    def test_a_stale_mutation_stops_bisect_step(self):
        write(self.tree, '.sva-kunit-mutation', b'[]')
        git(self.tree, 'add', '-f', '.sva-kunit-mutation')
        git(self.tree, 'commit', '-q', '-m', 'x')
        self.assert_refused(self.argv(('bisect-step',)), ABORT,
                            'still holds the suite from an earlier run '
                            '(.sva-kunit-mutation)')

    def test_a_lock_file_with_another_name_is_not_written(self):
        build = os.path.join(self.scratch, 'build')
        os.makedirs(build)
        os.link(self.file, os.path.join(build, '.sva-kunit.lock'))
        with open(self.file, 'rb') as f:
            before = f.read()
        self.assert_refused(self.argv(('run', f'--build-dir={build}')),
                            USAGE, 'is not a regular file of its own',
                            locks=True)
        with open(self.file, 'rb') as f:
            self.assertEqual(f.read(), before)

    def test_a_cache_whose_locks_lead_into_the_tree(self):
        os.symlink(os.path.join(self.tree, 'drivers'),
                   os.path.join(self.cache, 'locks'))
        self.assert_refused(self.argv(('uninstall',)), USAGE,
                            'is inside the kernel tree')

    def test_a_lock_file_that_is_a_symlink_is_not_followed(self):
        build = os.path.join(self.scratch, 'build')
        os.makedirs(build)
        os.symlink(self.file, os.path.join(build, '.sva-kunit.lock'))
        with open(self.file, 'rb') as f:
            before = f.read()
        out, err = io.StringIO(), io.StringIO()
        rc = cli.main(self.argv(('run', f'--build-dir={build}')), out, err,
                      repo_root=self.repo)
        self.assertEqual(rc, USAGE, err.getvalue())
        self.assertIn('cannot open the lock file', err.getvalue())
        with open(self.file, 'rb') as f:
            self.assertEqual(f.read(), before)

    def test_a_bug_is_one_line_and_no_verdict(self):
        for command, code in (('run', USAGE), ('bisect-step', ABORT)):
            with self.subTest(command=command), mock.patch.object(
                    cmd_run, 'run_suite', side_effect=KeyError('boom')), \
                    mock.patch.object(cmd_bisect_step, 'run_suite',
                                      side_effect=KeyError('boom')):
                out, err = io.StringIO(), io.StringIO()
                rc = cli.main(self.argv((command,)), out, err,
                              repo_root=self.repo)
                self.assertEqual(rc, code, err.getvalue())
                self.assertEqual(len(err.getvalue().splitlines()), 1)
                self.assertIn("internal error (KeyError: 'boom' at ",
                              err.getvalue())
                self.assertIn(DEBUG_ENV, err.getvalue())
        # bisect-step took its suite out again.
        self.assertEqual(git(self.tree, 'status', '--porcelain'), '')


class BadStateTest(CliTestCase):
    """Manifests and journals anyone could edit, and the files the hooks
    touch: refused with one line, or the tree exactly as it was."""

    def setUp(self) -> None:
        super().setUp()
        for rel, text in CATALOGUE.items():
            write(self.repo, rel, text.encode())

    def commands(self) -> List[List[str]]:
        kernel, cache = f'--kernel={self.tree}', f'--cache-dir={self.cache}'
        return [['run', kernel, cache], ['mutate', kernel, cache],
                ['install', kernel], ['uninstall', kernel]]

    def assert_refused(self, says: str) -> None:
        before = snapshot(self.tree)
        for argv in self.commands():
            with self.subTest(argv=argv):
                rc, out, err = self.main(*argv)
                self.assertEqual(rc, USAGE, out + err)
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn(says, err)
                self.assertNotIn('Traceback', out + err)
                self.assertEqual(snapshot(self.tree), before)
        self.assertEqual(self.calls(), [])

    def install(self) -> dict:
        rc, out, err = self.main('install', f'--kernel={self.tree}')
        self.assertEqual(rc, 0, out + err)
        with open(os.path.join(self.tree, MANIFEST_NAME)) as f:
            return json.load(f)

    def test_deeply_nested_or_huge_manifest_and_journals(self):
        deep = b'[' * 200_000
        for name in (MANIFEST_NAME, '.sva-kunit-install',
                     '.sva-kunit-mutation'):
            with self.subTest(name=name):
                write(self.tree, name, deep)
                self.assert_refused('nested too deeply')
                os.unlink(os.path.join(self.tree, name))
        write(self.tree, '.sva-kunit-install', b'null')
        self.assert_refused('is unreadable (null)')
        with open(os.path.join(self.tree, '.sva-kunit-install'), 'wb') as f:
            f.truncate(JOURNAL_LIMIT + 1)
        self.assert_refused('larger than')

    def test_journals_that_name_the_kernels_own_files(self):
        makefile = os.path.join(self.tree, 'Makefile')
        with open(makefile, 'rb') as f:
            data = f.read()
        forged = [{'path': 'Makefile', 'before': 'absent',
                   'after': sha256(data), 'data': '', 'mode': 0o644,
                   'owner': None}]
        for name in ('.sva-kunit-install', '.sva-kunit-mutation'):
            with self.subTest(name=name):
                write(self.tree, name, json.dumps(forged).encode())
                self.assert_refused('never changes it')
                os.unlink(os.path.join(self.tree, name))
        write(self.tree, '.sva-kunit-install', json.dumps(
            {'version': 1, 'entries': [{'path': 'newdir', 'before': 'dir',
                                        'after': 'absent', 'data': '',
                                        'mode': 0o755}]}).encode())
        self.assert_refused('never changes it')

    def test_every_record_is_read_before_any_is_acted_on(self):
        sva = 'drivers/iommu/iommu-sva.c'
        with open(os.path.join(self.tree, sva), 'rb') as f:
            original = f.read()
        write(self.tree, sva, b'// mutated\n')
        write(self.tree, '.sva-kunit-mutation', json.dumps([{
            'path': sva, 'before': sha256(original),
            'after': sha256(b'// mutated\n'), 'data': original.decode(),
            'mode': 0o644, 'owner': None}]).encode())
        write(self.tree, '.sva-kunit-install', b'null')
        # The mutated file stays as it is until the broken journal is
        # dealt with: nothing is repaired half-way.
        self.assert_refused('is unreadable (null)')

    def test_records_that_are_symlinks(self):
        for name in (MANIFEST_NAME, '.sva-kunit-install',
                     '.sva-kunit-mutation'):
            with self.subTest(name=name):
                link = os.path.join(self.tree, name)
                os.symlink('nowhere', link)  # dangling: not absent
                self.assert_refused('is unreadable (a symlink)')
                self.assertTrue(os.path.islink(link))
                os.unlink(link)

    def test_journal_entries_out_of_range(self):
        good = {'path': 'drivers/iommu/Makefile', 'before': 'absent',
                'after': 'absent', 'data': '', 'mode': 0o644,
                'owner': [0, 0]}
        for key, value in (('mode', -1), ('mode', 0o10000), ('mode', True),
                           ('owner', [-1, 0]), ('owner', ['0', 0]),
                           ('owner', [1 << 40, 0]),
                           ('owner', [0]), ('after', 'x' * 64),
                           ('before', 'file')):
            with self.subTest(key=key, value=value):
                write(self.tree, '.sva-kunit-install',
                      json.dumps([dict(good, **{key: value})]).encode())
                self.assert_refused('is unreadable')

    def test_manifest_that_names_the_kernels_own_files(self):
        doc = self.install()
        makefile = os.path.join(self.tree, 'Makefile')
        with open(makefile, 'rb') as f:
            files = dict(doc['files'], Makefile={'sha256': sha256(f.read())})
        write(self.tree, MANIFEST_NAME, json.dumps(dict(doc, files=files))
              .encode())
        before = snapshot(self.tree)
        rc, out, err = self.main('uninstall', f'--kernel={self.tree}')
        self.assertEqual(rc, USAGE, out + err)
        self.assertIn('is unreadable (Makefile: sva-kunit never installs it)',
                      err)
        self.assertEqual(snapshot(self.tree), before)
        hooks = {'drivers/iommu/Makefile': {'lines': ['VERSION = 6'],
                                            'added_newline': False}}
        write(self.tree, MANIFEST_NAME, json.dumps(dict(doc, hooks=hooks))
              .encode())
        self.assert_refused("'VERSION = 6' is no line of sva-kunit's")

    def test_manifest_that_does_not_record_the_hooks(self):
        doc = self.install()
        write(self.tree, MANIFEST_NAME, json.dumps(dict(doc, hooks={}))
              .encode())
        self.assert_refused('does not record the hook lines in '
                            'drivers/iommu/Kconfig')

    def test_manifest_of_an_earlier_version_is_accepted(self):
        before = snapshot(self.tree)
        doc = self.install()
        # What the first sva-kunit wrote besides today's keys.
        for rec in doc['files'].values():
            rec['mode'] = '0o644'
        for rec in doc['hooks'].values():
            rec.update(original_sha256='0' * 64, installed_sha256='1' * 64,
                       placement='append', anchor='')
        write(self.tree, MANIFEST_NAME, json.dumps(doc).encode())
        rc, out, err = self.main('uninstall', f'--kernel={self.tree}')
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(snapshot(self.tree), before)

    def test_symlinked_hook_file_stays_a_symlink(self):
        makefile = os.path.join(self.tree, 'drivers/iommu/Makefile')
        os.rename(makefile, makefile + '.real')
        os.symlink('Makefile.real', makefile)
        os.chmod(makefile + '.real', 0o604)
        before = snapshot(self.tree)
        self.install()
        self.assertTrue(os.path.islink(makefile))
        with open(makefile + '.real') as f:
            self.assertIn('fake-iommu/compat.mk', f.read())
        rc, out, err = self.main('uninstall', f'--kernel={self.tree}')
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(snapshot(self.tree), before)

    def test_symlinked_hook_file_out_of_the_tree_is_refused(self):
        outside = os.path.join(self._tmp.name, 'Makefile.outside')
        makefile = os.path.join(self.tree, 'drivers/iommu/Makefile')
        os.rename(makefile, outside)
        os.symlink(outside, makefile)
        before = snapshot(self.tree)
        rc, out, err = self.main('install', f'--kernel={self.tree}')
        self.assertEqual(rc, USAGE, out + err)
        self.assertIn('is a symlink out of the tree', err)
        self.assertEqual(snapshot(self.tree), before)

    def interrupted(self, journal: str, doc: object) -> None:
        """A journal an earlier sva-kunit left is finished by the next
        command: the tree as before the interrupted one."""
        write(self.tree, journal, json.dumps(doc).encode())
        rc, out, err = self.main('uninstall', f'--kernel={self.tree}')
        self.assertEqual(rc, 0, out + err)
        self.assertFalse(os.path.lexists(os.path.join(self.tree, journal)))

    def test_journals_of_earlier_versions_are_finished(self):
        rel = 'drivers/iommu/Kconfig'
        path = os.path.join(self.tree, rel)
        with open(path, 'rb') as f:
            original = f.read()
        changed = original + b'# half-done\n'
        for version in (1, 2):
            with self.subTest(version=version):
                write(self.tree, rel, changed)
                entry = {'path': rel, 'before': 'file',
                         'data': original.decode(), 'mode': 0o644,
                         'owner': None}
                entry.update({'after': 'file',
                              'after_sha256': sha256(changed)}
                             if version == 1 else {'after': sha256(changed)})
                self.interrupted('.sva-kunit-install',
                                 {'version': version, 'entries': [entry]})
                with open(path, 'rb') as f:
                    self.assertEqual(f.read(), original)
        sva = 'drivers/iommu/iommu-sva.c'
        path = os.path.join(self.tree, sva)
        with open(path, 'rb') as f:
            original = f.read()
        write(self.tree, sva, b'// mutated\n')
        self.interrupted('.sva-kunit-mutation', {
            'version': 1, 'mutant': 'x', 'file': sva,
            'original': original.decode(), 'mode': 0o644,
            'original_sha256': sha256(original),
            'mutated_sha256': sha256(b'// mutated\n')})
        with open(path, 'rb') as f:
            self.assertEqual(f.read(), original)


class StandardOutputTest(unittest.TestCase):
    """The real entry script, where the interpreter's own handling of a
    broken stdout would otherwise print a traceback or exit 120."""

    def sva_kunit(self, shell: str) -> subprocess.CompletedProcess:
        return subprocess.run(['sh', '-c', f'{shell}'], capture_output=True,
                              text=True, env=dict(os.environ,
                                                  SVA=SCRIPT,
                                                  PY=sys.executable))

    def test_full_or_closed_stdout(self):
        for redirect in ('>/dev/full', '>&-'):
            with self.subTest(redirect=redirect):
                proc = self.sva_kunit(f'"$PY" "$SVA" mutate --list '
                                      f'{redirect}')
                self.assertEqual(proc.returncode, USAGE, proc.stderr)
                self.assertEqual(proc.stderr.splitlines(), [
                    proc.stderr.splitlines()[0]])
                self.assertIn('cannot write to standard output',
                              proc.stderr)


if __name__ == '__main__':
    unittest.main()
