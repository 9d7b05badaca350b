import contextlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest
from typing import Iterator, List, Optional
from unittest import mock

from ..errors import SetupError
from ..testing_support import write
from . import kernel_sources
from .kernel_sources import SOURCES, Archive, Unavailable


class KernelSourcesTest(unittest.TestCase):

    def test_table(self):
        self.assertEqual(kernel_sources.DEFAULT_SOURCE, '7.3')
        source = SOURCES['7.3']
        self.assertEqual((source.package, source.suite),
                         ('linux-source-7.3', 'trixie-backports'))
        self.assertEqual(SOURCES['7.2'].suite, 'sid')
        self.assertEqual(SOURCES['6.12'].suite, '')

    def test_unknown_version(self):
        with self.assertRaises(SetupError) as cm:
            kernel_sources.source_tree('/c', '6.1', io.StringIO())
        self.assertEqual(cm.exception.one_line(), 'sva-kunit: error: '
                         '--source=6.1 is not supported (supported: 7.3, '
                         '6.12, 7.2); pick one of those')


class SourceTreeTest(unittest.TestCase):
    """needed, the packages, then a fetch or the machine's package."""

    def source_tree(self, fetch: bool, *args, **kwargs) -> tuple:
        versions = {'linux-source-6.12': '6.1', 'linux-source-7.3': '7.3'}
        with mock.patch.object(kernel_sources, 'needed',
                               return_value=fetch), \
                mock.patch.object(kernel_sources, 'ensure_packages',
                                  return_value=versions) as packages, \
                mock.patch.object(kernel_sources, 'fetched_tree',
                                  return_value='/f') as fetched, \
                mock.patch.object(kernel_sources, 'ensure_tree',
                                  return_value='/t') as ensure, \
                mock.patch.object(kernel_sources, 'find_tarball',
                                  return_value='/usr/src/l.tar.xz'):
            found = kernel_sources.source_tree('/c', *args, **kwargs)
        return found, packages, fetched, ensure

    def test_tarball_fetched_or_installed(self):
        found, packages, fetched, _ = self.source_tree(
            True, '7.3', io.StringIO(), tarball_into='/w')
        self.assertEqual(found, '/f')
        self.assertEqual(fetched.call_args[0][:2], ('/c', SOURCES['7.3']))
        self.assertEqual(fetched.call_args[1]['into'], '/w')
        self.assertEqual(packages.call_args[0][1],
                         kernel_sources.REQUIRED_PACKAGES)
        found, packages, fetched, ensure = self.source_tree(
            False, '6.12', io.StringIO(), tarball_into='/w')
        self.assertEqual(found, '/usr/src/l.tar.xz')
        self.assertIn('linux-source-6.12', packages.call_args[0][1])
        fetched.assert_not_called()
        ensure.assert_not_called()

    def test_members_only_need_the_source_package(self):
        found, packages, _, ensure = self.source_tree(
            False, '6.12', io.StringIO(), (), ('scripts/checkpatch.pl',))
        self.assertEqual(found, '/t')
        self.assertEqual(packages.call_args[0][1], ('linux-source-6.12',))
        self.assertEqual(ensure.call_args[0][:3],
                         ('/c', 'linux-source-6.12', '6.1'))
        self.assertEqual(ensure.call_args[1],
                         {'members': ('scripts/checkpatch.pl',)})
        found, packages, fetched, _ = self.source_tree(
            True, '7.3', io.StringIO(), (), ('scripts/checkpatch.pl',))
        self.assertEqual(found, '/f')
        packages.assert_not_called()
        self.assertEqual(fetched.call_args[1]['members'],
                         ('scripts/checkpatch.pl',))


class FakeDpkg:
    """Stands in for subprocess.run: dpkg-query and apt-get, no real apt."""

    def __init__(self, installed: dict) -> None:
        self.installed = dict(installed)
        self.calls: List[List[str]] = []
        self.apt_rc = 0

    def __call__(self, argv, **kwargs):
        self.calls.append(list(argv))
        if argv[0] == 'dpkg-query':
            lines = [f'{p}\tinstall ok installed\t{self.installed[p]}'
                     for p in argv[3:] if p in self.installed]
            rc = 0 if all(p in self.installed for p in argv[3:]) else 1
            return subprocess.CompletedProcess(argv, rc,
                                               '\n'.join(lines) + '\n', '')
        if argv[:2] == ['apt-get', 'install'] and self.apt_rc == 0:
            for p in argv[3:]:
                self.installed[p] = '1.0'
        return subprocess.CompletedProcess(argv, self.apt_rc, '', '')

    @contextlib.contextmanager
    def patched(self, root: bool) -> Iterator[None]:
        with mock.patch('subprocess.run', self), \
                mock.patch('os.geteuid', return_value=0 if root else 1000):
            yield


ALL = {p: '1' for p in kernel_sources.REQUIRED_PACKAGES}


class PackagesTest(unittest.TestCase):

    def test_all_installed_returns_versions(self):
        fake = FakeDpkg(dict(ALL, **{'linux-source-6.12': '6.12.117-1'}))
        with fake.patched(root=False):
            versions = kernel_sources.ensure_packages(
                io.StringIO(),
                kernel_sources.REQUIRED_PACKAGES + ('linux-source-6.12',))
        self.assertEqual(versions['linux-source-6.12'], '6.12.117-1')
        self.assertEqual([c[0] for c in fake.calls], ['dpkg-query'])

    def test_no_kernel_source_among_the_host_packages(self):
        self.assertFalse(any(p.startswith('linux-source')
                             for p in kernel_sources.REQUIRED_PACKAGES))

    def test_candidate(self):
        def candidate(stdout):
            def run(argv, **kwargs):
                self.assertEqual(argv, ['apt-cache', 'policy', 'pkg'])
                self.assertEqual(kwargs['env']['LC_ALL'], 'C')
                return subprocess.CompletedProcess(argv, 0, stdout, '')
            with mock.patch('subprocess.run', run):
                return kernel_sources.candidate('pkg')
        self.assertEqual(candidate('pkg:\n  Installed: (none)\n  Candidate: '
                                   '6.12.117-1~deb12u1\n'),
                         '6.12.117-1~deb12u1')
        self.assertEqual(candidate('pkg:\n  Installed: (none)\n  Candidate: '
                                   '(none)\n'), '')
        self.assertEqual(candidate(''), '')
        with mock.patch('subprocess.run', side_effect=FileNotFoundError):
            self.assertEqual(kernel_sources.candidate('pkg'), '')

    def test_not_installed_states_count_as_missing(self):
        with mock.patch('subprocess.run', return_value=subprocess.
                        CompletedProcess([], 0, 'bc\tdeinstall ok config-'
                                         'files\t1.07\nflex\tinstall ok '
                                         'installed\t2.6\n', '')):
            self.assertEqual(
                kernel_sources.installed_versions(['bc', 'flex']),
                {'flex': '2.6'})

    def test_missing_as_user_is_one_line_error(self):
        fake = FakeDpkg({p: '1' for p in ALL if p not in ('flex', 'bc')})
        with self.assertRaises(SetupError) as cm, fake.patched(root=False):
            kernel_sources.ensure_packages(io.StringIO())
        self.assertEqual(cm.exception.one_line(), 'sva-kunit: error: missing '
                         'Debian packages: flex bc; install them with: sudo '
                         'apt-get install -y flex bc')
        self.assertFalse(any(c[0] == 'apt-get' for c in fake.calls))

    def test_missing_as_root_installs_with_apt(self):
        fake = FakeDpkg({p: '1' for p in ALL if p != 'ccache'})
        with fake.patched(root=True):
            kernel_sources.ensure_packages(io.StringIO())
        self.assertIn(['apt-get', 'update'], fake.calls)
        self.assertIn(['apt-get', 'install', '-y', 'ccache'], fake.calls)

    def test_apt_failure_is_setup_error(self):
        fake = FakeDpkg({})
        fake.apt_rc = 100
        with self.assertRaises(SetupError) as cm, fake.patched(root=True):
            kernel_sources.ensure_packages(io.StringIO())
        self.assertIn('"apt-get update" failed (exit 100)', str(cm.exception))

    def test_no_dpkg(self):
        with self.assertRaises(SetupError), \
                mock.patch('subprocess.run', side_effect=FileNotFoundError):
            kernel_sources.installed_versions(['bc'])


PKG = 'linux-source-6.12'


class SourceCacheTest(unittest.TestCase):

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.cache = os.path.join(self._tmp.name, 'cache')
        self.tarball = os.path.join(self._tmp.name, 'linux-source-6.12.tar.xz')
        with tarfile.open(self.tarball, 'w:xz') as tar:
            data = b'VERSION = 6\n'
            info = tarfile.TarInfo('linux-source-6.12/Makefile')
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    def test_default_cache_dir(self):
        with mock.patch.dict(os.environ, {'SVA_KUNIT_CACHE': '/x/y'}):
            self.assertEqual(kernel_sources.default_cache_dir(), '/x/y')
        with mock.patch.dict(os.environ, {'SVA_KUNIT_CACHE': ''}):
            self.assertTrue(kernel_sources.default_cache_dir().endswith(
                os.path.join('.cache', 'sva-kunit')))

    def test_extracts_once_per_version(self):
        out = io.StringIO()
        tree = kernel_sources.ensure_tree(self.cache, PKG,
                                          '6.12.117-1~deb12u1', out,
                                          self.tarball)
        self.assertEqual(os.path.basename(tree),
                         'linux-source-6.12_6.12.117-1_deb12u1')
        self.assertTrue(os.path.isfile(os.path.join(tree, 'Makefile')))
        with mock.patch('subprocess.run') as run:
            again = kernel_sources.ensure_tree(self.cache, PKG,
                                               '6.12.117-1~deb12u1', out,
                                               self.tarball)
        self.assertEqual(again, tree)
        run.assert_not_called()
        other = kernel_sources.ensure_tree(self.cache, PKG, '6.12.118-1', out,
                                           self.tarball)
        self.assertNotEqual(other, tree)
        # Only finished trees are left in the cache.
        self.assertEqual(sorted(os.listdir(os.path.dirname(tree))),
                         sorted([os.path.basename(tree),
                                 os.path.basename(other)]))

    def test_interrupted_extraction_is_never_reused(self):
        def interrupted_tar(argv, **kwargs):
            target = argv[argv.index('-C') + 1]
            os.makedirs(os.path.join(target, 'linux-source-6.12'))
            raise KeyboardInterrupt
        with mock.patch('subprocess.run', interrupted_tar), \
                self.assertRaises(KeyboardInterrupt):
            kernel_sources.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                       self.tarball)
        self.assertFalse(os.path.exists(os.path.join(self.cache, 'trees',
                                                     f'{PKG}_1')))
        tree = kernel_sources.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                          self.tarball)
        self.assertTrue(os.path.isfile(os.path.join(tree, 'Makefile')))

    def test_leftover_from_killed_process_is_cleaned(self):
        trees = os.path.join(self.cache, 'trees')
        dead = os.path.join(trees, '.extract-999999999-abc', 'linux')
        os.makedirs(dead)
        kernel_sources.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                   self.tarball)
        self.assertFalse(os.path.exists(os.path.dirname(dead)))

    def test_tar_failure_is_setup_error(self):
        with self.assertRaises(SetupError) as cm, mock.patch(
                'subprocess.run', return_value=subprocess.CompletedProcess(
                    [], 2)):
            kernel_sources.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                       self.tarball)
        self.assertIn('tar exit 2', str(cm.exception))
        self.assertEqual(os.listdir(os.path.join(self.cache, 'trees')), [])

    def test_find_tarball(self):
        with mock.patch('os.path.isfile', return_value=True):
            self.assertEqual(kernel_sources.find_tarball(PKG),
                             '/usr/src/linux-source-6.12.tar.xz')
        with mock.patch('os.path.isfile', return_value=False), \
                self.assertRaises(SetupError):
            kernel_sources.find_tarball(PKG)

    def test_trees_are_per_package_and_the_newest_is_found(self):
        self.assertIsNone(kernel_sources.cached_tree(self.cache, PKG))
        old = kernel_sources.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                         self.tarball)
        new = kernel_sources.ensure_tree(self.cache, PKG, '2', io.StringIO(),
                                         self.tarball)
        other = kernel_sources.ensure_tree(self.cache, 'linux-source-7.3', '3',
                                           io.StringIO(), self.tarball)
        os.utime(old, (1, 1))
        self.assertEqual(kernel_sources.cached_tree(self.cache, PKG), new)
        self.assertEqual(os.path.basename(other), 'linux-source-7.3_3')
        self.assertEqual(kernel_sources.cached_tree(self.cache,
                                                    'linux-source-7.3'), other)

    def test_build_dir_is_per_tree(self):
        a = kernel_sources.build_dir_for('/c', '/src/linux')
        b = kernel_sources.build_dir_for('/c', '/other/linux')
        self.assertNotEqual(a, b)
        self.assertTrue(a.startswith('/c/build/linux-'))
        self.assertEqual(a, kernel_sources.build_dir_for('/c', '/src/linux/'))


CHECKPATCH_TREE = {
    'linux-source-6.12/Makefile': b'VERSION = 6\n',
    'linux-source-6.12/scripts/checkpatch.pl': b'#!/usr/bin/perl\n',
    'linux-source-6.12/scripts/spelling.txt': b'abandonned||abandoned\n',
    'linux-source-6.12/scripts/Makefile': b'# not needed\n',
    # Deeper files of the same names must not be taken for the members.
    'linux-source-6.12/tools/scripts/spelling.txt': b'wrong one\n',
}
MEMBERS = ('scripts/checkpatch.pl', 'scripts/spelling.txt')


def make_tarball(path: str, files) -> str:
    with tarfile.open(path, 'w:xz') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def listing(root: str):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


class EnsureFilesTest(unittest.TestCase):

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.cache = os.path.join(self._tmp.name, 'cache')
        self.tarball = make_tarball(os.path.join(self._tmp.name, 't.tar.xz'),
                                    CHECKPATCH_TREE)

    def ensure(self, members=MEMBERS, version='1') -> str:
        return kernel_sources.ensure_tree(self.cache, PKG, version,
                                          io.StringIO(), self.tarball,
                                          members=members)

    def test_extracts_only_the_members_once(self):
        files = self.ensure()
        self.assertEqual(files, os.path.join(self.cache, 'files', f'{PKG}_1'))
        self.assertEqual(listing(files), list(MEMBERS))
        with open(os.path.join(files, 'scripts', 'spelling.txt'), 'rb') as f:
            self.assertEqual(f.read(), b'abandonned||abandoned\n')
        # Nothing but the finished directory is left in the cache.
        self.assertEqual(os.listdir(os.path.dirname(files)),
                         [os.path.basename(files)])
        with mock.patch('subprocess.run') as run:
            self.assertEqual(self.ensure(), files)
        run.assert_not_called()

    def test_a_cached_whole_tree_is_used(self):
        tree = kernel_sources.ensure_tree(self.cache, PKG, '1', io.StringIO(),
                                          self.tarball)
        with mock.patch('subprocess.run') as run:
            self.assertEqual(self.ensure(), tree)
        run.assert_not_called()
        self.assertFalse(os.path.exists(os.path.join(self.cache, 'files')))

    def test_a_directory_missing_a_member_is_extracted_again(self):
        self.ensure(members=MEMBERS[:1])
        files = self.ensure()
        self.assertEqual(listing(files), list(MEMBERS))

    def test_a_member_missing_from_the_tarball_is_a_setup_error(self):
        def quiet(argv, **kwargs):
            return REAL_RUN(argv, stderr=subprocess.DEVNULL, **kwargs)
        with self.assertRaises(SetupError) as cm, \
                mock.patch('subprocess.run', quiet):
            self.ensure(members=MEMBERS + ('scripts/nonexistent',))
        self.assertIn('tar exit 2', str(cm.exception))
        self.assertEqual(os.listdir(os.path.join(self.cache, 'files')), [])

    def test_newest_tree_prefers_a_whole_tree(self):
        def newest(members=MEMBERS):
            return kernel_sources.cached_tree(self.cache, PKG, None, members)
        self.assertIsNone(newest())
        files = self.ensure()
        self.assertEqual(newest(), files)
        self.assertIsNone(newest(MEMBERS + ('scripts/other',)))
        tree = kernel_sources.ensure_tree(self.cache, PKG, '0', io.StringIO(),
                                          self.tarball)
        self.assertEqual(newest(), tree)


REAL_RUN = subprocess.run
KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'
ARCHIVE = Archive('file:/srv/mirror/debian', KEYRING)
SOURCE = SOURCES['7.3']
VERSION = '7.3.4-1~bpo13+1'
DEB822 = '''Types: deb
# file:/srv/snapshot/archive/debian/20250520T000000Z
URIs: file:/srv/mirror/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

# the security archive
Types: deb deb-src
URIs: file:/srv/security/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
'''

SECURITY_ONLY = '''Types: deb
URIs: file:/srv/security/debian-security
Suites: bookworm-security
Components: main
'''

ONE_LINE = ('# deb file:/srv/old/debian bookworm main\n'
            'deb-src file:/srv/src/debian bookworm main\n'
            'deb [arch=amd64 signed-by=/etc/apt/keyrings/mirror.gpg] '
            'file:/srv/mirror/debian bookworm main non-free-firmware  '
            '# comment\n'
            'deb [ signed-by=/k.gpg ] file:/srv/other/debian '
            'bookworm-updates main\n'
            'deb file:/srv/plain/debian trixie main\n')


class ParseTest(unittest.TestCase):

    def test_deb822_stanzas_and_comments(self):
        first, second = kernel_sources.parse_deb822(DEB822)
        self.assertEqual(first, {
            'types': 'deb', 'uris': 'file:/srv/mirror/debian',
            'suites': 'bookworm bookworm-updates',
            'components': 'main contrib', 'signed-by': KEYRING})
        self.assertEqual(second['types'], 'deb deb-src')
        self.assertEqual(second['suites'], 'bookworm-security')

    def test_deb822_names_are_case_insensitive_and_disabled_skipped(self):
        text = ('types: deb\nuris: file:/srv/a/debian\nsuites: bookworm\n'
                'components: main\n\nTypes: deb\nEnabled: no\n'
                'URIs: file:/srv/b/debian\nSuites: bookworm\n')
        [entry] = kernel_sources.parse_deb822(text)
        self.assertEqual(entry['uris'], 'file:/srv/a/debian')
        self.assertNotIn('signed-by', entry)

    def test_deb822_embedded_key_survives_a_round_trip(self):
        text = ('Types: deb\nURIs: file:/srv/a/debian\nSuites: bookworm\n'
                'Components: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY '
                'BLOCK-----\n .\n mQINBGPL\n -----END PGP PUBLIC KEY '
                'BLOCK-----\n')
        [entry] = kernel_sources.parse_deb822(text)
        sources = kernel_sources.private_sources(
            Archive(entry['uris'], entry['signed-by']), 'sid')
        self.assertTrue(sources.endswith(
            'Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGPL'
            '\n -----END PGP PUBLIC KEY BLOCK-----\n'), sources)

    def test_one_line_format(self):
        entries = kernel_sources.parse_one_line(ONE_LINE)
        self.assertEqual([e['types'] for e in entries],
                         ['deb-src', 'deb', 'deb', 'deb'])
        self.assertEqual(entries[1], {
            'types': 'deb', 'uris': 'file:/srv/mirror/debian',
            'suites': 'bookworm', 'signed-by': '/etc/apt/keyrings/mirror.gpg'})
        self.assertEqual(entries[2]['signed-by'], '/k.gpg')
        self.assertEqual(entries[3]['signed-by'], '')


class MachineArchiveTest(unittest.TestCase):

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.etc = os.path.join(self._tmp.name, 'apt')
        self.os_release = os.path.join(self._tmp.name, 'os-release')
        write(self.etc, 'sources.list', b'# nothing here\n')

    def archive(self, codename: str = 'bookworm') -> Archive:
        with open(self.os_release, 'w') as f:
            f.write('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
                    f'VERSION_ID="12"\nVERSION_CODENAME={codename}\n')
        return kernel_sources.machine_archive(self.etc, self.os_release)

    def test_the_entry_of_the_release_itself(self):
        write(self.etc, 'sources.list.d/a.sources', SECURITY_ONLY.encode())
        write(self.etc, 'sources.list', ONE_LINE.encode())
        self.assertEqual(self.archive(),
                         Archive('file:/srv/mirror/debian',
                                 '/etc/apt/keyrings/mirror.gpg'))
        with mock.patch('os.path.isfile', lambda p: p == KEYRING):
            self.assertEqual(self.archive('"trixie"'),
                             Archive('file:/srv/plain/debian', KEYRING))
        with mock.patch('os.path.isfile', lambda p: False):
            self.assertEqual(self.archive('trixie'),
                             Archive('file:/srv/plain/debian', ''))

    def test_security_only_is_no_archive(self):
        write(self.etc, 'sources.list.d/security.sources',
              SECURITY_ONLY.encode())
        write(self.etc, 'sources.list.d/other.list.disabled',
              b'deb file:/srv/no/debian bookworm main\n')
        with self.assertRaises(Unavailable) as cm:
            self.archive()
        self.assertEqual(str(cm.exception), 'no "deb" entry for suite '
                         f'bookworm in {self.etc}')
        with self.assertRaisesRegex(Unavailable, 'VERSION_CODENAME'):
            self.archive('')
        os.unlink(self.os_release)
        with self.assertRaisesRegex(Unavailable, 'VERSION_CODENAME'):
            kernel_sources.machine_archive(self.etc, self.os_release)

    def test_deb822_wins_when_it_has_the_entry(self):
        write(self.etc, 'sources.list.d/debian.sources', DEB822.encode())
        self.assertEqual(self.archive(),
                         Archive('file:/srv/mirror/debian', KEYRING))


class PrivateSourcesTest(unittest.TestCase):

    def test_content(self):
        self.assertEqual(kernel_sources.private_sources(
            Archive('file:/srv/mirror/debian', KEYRING),
            'trixie-backports'),
            'Types: deb\nURIs: file:/srv/mirror/debian\n'
            'Suites: trixie-backports\nComponents: main\n'
            f'Signed-By: {KEYRING}\n')
        self.assertEqual(kernel_sources.private_sources(
            Archive('file:/srv/mirror/debian', ''), 'sid'),
            'Types: deb\nURIs: file:/srv/mirror/debian\nSuites: sid\n'
            'Components: main\n')


def policy(version: Optional[str]) -> str:
    if version is None:
        return ''
    return (f'linux-source-7.3:\n  Installed: (none)\n  Candidate: {version}'
            f'\n  Version table:\n     {version} 100\n')


class FakeApt:
    """apt-get, apt-cache and dpkg-deb as the fetch runs them; tar is real."""

    def __init__(self, tarball: str) -> None:
        self.tarball = tarball
        self.calls: List[List[str]] = []
        self.cwds: List[Optional[str]] = []
        self.update_rc = 0
        self.download_rc = 0
        self.version: Optional[str] = VERSION

    def __call__(self, argv, **kwargs):
        argv = list(argv)
        self.calls.append(argv)
        self.cwds.append(kwargs.get('cwd'))
        if argv[0] == 'tar':
            return REAL_RUN(argv, check=False)
        assert kwargs['env']['LC_ALL'] == 'C'
        if argv[0] == 'apt-get' and argv[-1] == 'update':
            if self.update_rc:
                return subprocess.CompletedProcess(
                    argv, self.update_rc, '', 'E: Failed to fetch file:/srv/'
                    'mirror/debian/dists/trixie-backports/InRelease  '
                    "File not found\nE: Some index files "
                    'failed to download.\n')
            return subprocess.CompletedProcess(argv, 0, 'Get:1 ...\n', '')
        if argv[0] == 'apt-cache':
            return subprocess.CompletedProcess(argv, 0, policy(self.version),
                                               '')
        if argv[0] == 'apt-get' and argv[-2] == 'download':
            if self.download_rc:
                return subprocess.CompletedProcess(
                    argv, self.download_rc, '', 'E: Failed to fetch file:/srv/'
                    'mirror/debian/pool/main/l/linux/x.deb  File not '
                    'found\n')
            name = argv[-1].replace('=', '_') + '_all.deb'
            with open(os.path.join(kwargs['cwd'], name), 'wb') as f:
                f.write(b'!<arch>\n')
            return subprocess.CompletedProcess(argv, 0, '', 'W: Download is '
                                               'performed unsandboxed as root')
        if argv[0] == 'dpkg-deb':
            deb, into = argv[2], argv[3]
            assert os.path.isfile(deb)
            src = os.path.join(into, 'usr', 'src')
            os.makedirs(src)
            shutil.copy(self.tarball, os.path.join(src,
                                                   'linux-source-7.3.tar.xz'))
            return subprocess.CompletedProcess(argv, 0, '', '')
        raise AssertionError(f'unexpected command {argv}')

    def commands(self) -> List[str]:
        return [' '.join(c[:1] + [a for a in c[1:] if not a.startswith(
            ('-o', 'Dir::'))]) for c in self.calls]


class FetchTest(unittest.TestCase):

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.cache = os.path.join(self._tmp.name, 'cache')
        tarball = os.path.join(self._tmp.name, 'linux-source-7.3.tar.xz')
        with tarfile.open(tarball, 'w:xz') as tar:
            data = b'VERSION = 7\n'
            info = tarfile.TarInfo('linux-source-7.3/Makefile')
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        self.apt = FakeApt(tarball)
        self.root = os.path.join(self.cache, 'apt', 'trixie-backports')

    def fetch(self, archive=ARCHIVE, **kwargs) -> tuple:
        out = io.StringIO()
        with mock.patch('subprocess.run', self.apt), \
                mock.patch.object(kernel_sources, 'machine_archive',
                                  side_effect=[archive]):
            tree = kernel_sources.fetched_tree(self.cache, SOURCE, out,
                                               **kwargs)
        return tree, out.getvalue()

    def test_fetch_extract_and_clean_up(self):
        tree, out = self.fetch()
        self.assertEqual(tree, os.path.join(
            self.cache, 'trees', 'linux-source-7.3_7.3.4-1_bpo13+1'))
        self.assertTrue(os.path.isfile(os.path.join(tree, 'Makefile')))
        self.assertEqual(self.apt.commands()[:3], [
            'apt-get --error-on=any update',
            'apt-cache policy linux-source-7.3',
            f'apt-get download linux-source-7.3={VERSION}'])
        self.assertEqual([c[0] for c in self.apt.calls[3:]],
                         ['dpkg-deb', 'tar'])
        options = ['-o', f'Dir::Etc::sourcelist={self.root}/sources.sources',
                   '-o', 'Dir::Etc::sourceparts=-',
                   '-o', f'Dir::State::Lists={self.root}/lists',
                   '-o', f'Dir::Cache={self.root}/cache']
        self.assertEqual(self.apt.calls[0],
                         ['apt-get', *options, '--error-on=any', 'update'])
        self.assertEqual(self.apt.calls[1],
                         ['apt-cache', *options, 'policy', 'linux-source-7.3'])
        download_dir = self.apt.cwds[2]
        self.assertEqual(os.path.dirname(download_dir), self.root)
        self.assertEqual(self.apt.calls[2][-2:],
                         ['download', f'linux-source-7.3={VERSION}'])
        deb = os.path.join(download_dir,
                           f'linux-source-7.3_{VERSION}_all.deb')
        self.assertEqual(self.apt.calls[3], ['dpkg-deb', '-x', deb,
                                             os.path.join(download_dir,
                                                          'unpacked')])
        self.assertIn(f'fetched linux-source-7.3 {VERSION} from '
                      'trixie-backports', out)
        with open(os.path.join(self.root, 'sources.sources')) as f:
            self.assertEqual(f.read(), 'Types: deb\nURIs: file:/srv/'
                             'mirror/debian\nSuites: trixie-backports\n'
                             'Components: main\nSigned-By: /usr/share/'
                             'keyrings/debian-archive-keyring.gpg\n')
        # The .deb and its unpacked files are gone; the lists stay.
        self.assertEqual(sorted(os.listdir(self.root)),
                         ['cache', 'lists', 'sources.sources'])
        self.assertTrue(os.path.isdir(os.path.join(self.root, 'lists',
                                                   'partial')))
        self.assertTrue(os.path.isdir(os.path.join(
            self.root, 'cache', 'archives', 'partial')))

    def test_a_download_left_by_a_dead_process_is_removed(self):
        dead = os.path.join(self.root, '.extract-999999999-x')
        os.makedirs(dead)
        self.fetch()
        self.assertFalse(os.path.exists(dead))

    def test_reuse_needs_no_update_and_no_download(self):
        first, _ = self.fetch()
        self.apt.calls.clear()
        again, out = self.fetch()
        self.assertEqual(again, first)
        self.assertEqual(self.apt.commands(),
                         ['apt-cache policy linux-source-7.3'])
        self.assertEqual(out, '')

    def test_stale_lists_are_updated_and_a_new_version_fetched(self):
        first, _ = self.fetch()
        os.utime(os.path.join(self.root, 'sources.sources'),
                 (time.time() - 3600,) * 2)
        self.apt.version = '7.3.5-1~bpo13+1'
        self.apt.calls.clear()
        second, _ = self.fetch()
        self.assertNotEqual(second, first)
        self.assertEqual(self.apt.commands()[0], 'apt-get --error-on=any '
                         'update')

    def test_changed_mirror_rewrites_sources_and_updates(self):
        self.fetch()
        self.apt.calls.clear()
        self.fetch(Archive('file:/srv/other/debian', ''))
        self.assertEqual(self.apt.commands()[0], 'apt-get --error-on=any '
                         'update')
        with open(os.path.join(self.root, 'sources.sources')) as f:
            self.assertIn('URIs: file:/srv/other/debian\n', f.read())

    def test_offline_uses_the_cached_tree_with_a_note(self):
        first, _ = self.fetch()
        os.utime(os.path.join(self.root, 'sources.sources'), (1, 1))
        self.apt.update_rc = 100
        again, out = self.fetch()
        self.assertEqual(again, first)
        self.assertEqual(out.splitlines()[-1], 'sva-kunit: note: '
                         'linux-source-7.3 from trixie-backports: apt-get '
                         'update failed: E: Failed to fetch file:/srv/'
                         'mirror/debian/dists/trixie-backports/InRelease '
                         "File not found; using the tree "
                         f'fetched earlier, {first}')
        # The lists stay stale until an update succeeds.
        self.apt.update_rc = 0
        self.apt.calls.clear()
        self.fetch()
        self.assertEqual(self.apt.commands()[0], 'apt-get --error-on=any '
                         'update')

    def error(self, archive=ARCHIVE) -> str:
        with self.assertRaises(SetupError) as cm:
            self.fetch(archive)
        self.assertFalse(os.path.exists(os.path.join(self.cache, 'trees')))
        return cm.exception.one_line()

    def test_offline_without_a_cached_tree_is_one_error_line(self):
        self.apt.update_rc = 100
        self.assertEqual(self.error(), "sva-kunit: error: linux-source-7.3 "
                         "is not available from this machine's Debian "
                         'archive (trixie-backports: apt-get update failed: '
                         'E: Failed to fetch file:/srv/mirror/debian/'
                         'dists/trixie-backports/InRelease File not found); '
                         'use --source=6.12 or '
                         '--kernel=DIR')

    def test_failed_download_leaves_nothing_behind(self):
        self.apt.download_rc = 100
        self.assertIn('(trixie-backports: apt-get download failed: E: Failed '
                      'to fetch file:/srv/mirror/debian/pool/main/l/'
                      'linux/x.deb File not found); use --source=6.12',
                      self.error())
        self.assertEqual(sorted(os.listdir(self.root)),
                         ['cache', 'lists', 'sources.sources'])

    def test_package_unknown_in_the_suite(self):
        self.apt.version = None
        self.assertIn('(trixie-backports: no linux-source-7.3 in '
                      'file:/srv/mirror/debian trixie-backports); use '
                      '--source=6.12 or --kernel=DIR', self.error())

    def test_no_debian_entry_in_the_apt_config(self):
        none = Unavailable('no "deb" entry for suite bookworm in /etc/apt')
        self.assertEqual(self.error(none), "sva-kunit: error: "
                         "linux-source-7.3 is not available from this "
                         "machine's Debian archive (trixie-backports: no "
                         '"deb" entry for suite bookworm in /etc/apt); use '
                         '--source=6.12 or --kernel=DIR')
        self.assertEqual(self.apt.calls, [])

    def fetch_files(self) -> tuple:
        return self.fetch(members=('Makefile',))

    def test_only_the_members_are_extracted_and_kept(self):
        files, out = self.fetch_files()
        self.assertEqual(files, os.path.join(
            self.cache, 'files', 'linux-source-7.3_7.3.4-1_bpo13+1'))
        self.assertEqual(os.listdir(files), ['Makefile'])
        self.assertIn('extracting Makefile from', out)
        self.assertFalse(os.path.exists(os.path.join(self.cache, 'trees')))
        self.assertEqual(sorted(os.listdir(self.root)),
                         ['cache', 'lists', 'sources.sources'])
        self.apt.calls.clear()
        self.assertEqual(self.fetch_files(), (files, ''))
        self.assertEqual(self.apt.commands(),
                         ['apt-cache policy linux-source-7.3'])
        # Offline, the files fetched earlier serve, with a note.
        os.utime(os.path.join(self.root, 'sources.sources'), (1, 1))
        self.apt.update_rc = 100
        again, out = self.fetch_files()
        self.assertEqual(again, files)
        self.assertIn(f'using the tree fetched earlier, {files}', out)

    def test_members_come_from_a_cached_whole_tree(self):
        tree, _ = self.fetch()
        self.apt.calls.clear()
        self.assertEqual(self.fetch_files(), (tree, ''))
        self.assertEqual(self.apt.commands(),
                         ['apt-cache policy linux-source-7.3'])

    def test_fetched_tarball_for_the_bisect_selftest(self):
        into = os.path.join(self._tmp.name, 'work', 'deb')
        tarball, _ = self.fetch(into=into)
        self.assertEqual(tarball, os.path.join(
            into, 'unpacked', 'usr', 'src', 'linux-source-7.3.tar.xz'))
        self.assertTrue(os.path.isfile(tarball))
        self.assertEqual([n for n in os.listdir(into) if n.endswith('.deb')],
                         [])
        self.assertFalse(os.path.exists(os.path.join(self.cache, 'trees')))


class NeededTest(unittest.TestCase):
    """Which way a source comes: the machine's apt, or fetched."""

    def runner(self, installed: bool, candidate: bool):
        calls: List[str] = []

        def run(argv, **kwargs):
            calls.append(argv[0])
            if argv[0] == 'dpkg-query':
                out = (f'{argv[-1]}\tinstall ok installed\t7.3.4-1\n'
                       if installed else '')
                return subprocess.CompletedProcess(argv, 0, out, '')
            self.assertEqual(argv, ['apt-cache', 'policy',
                                    'linux-source-7.3'])
            return subprocess.CompletedProcess(
                argv, 0, policy(VERSION if candidate else '(none)'), '')
        return run, calls

    def test_cases(self):
        with tempfile.TemporaryDirectory() as cache:
            def needed(source, installed: bool, candidate: bool) -> tuple:
                run, calls = self.runner(installed, candidate)
                with mock.patch('subprocess.run', run):
                    return kernel_sources.needed(source, cache), calls
            self.assertEqual(needed(SOURCES['6.12'], False, False),
                             (False, []))
            self.assertEqual(needed(SOURCE, True, False),
                             (False, ['dpkg-query']))
            self.assertFalse(needed(SOURCE, False, True)[0])
            self.assertEqual(needed(SOURCE, False, False),
                             (True, ['dpkg-query', 'apt-cache']))
            # Fetched before: the machine's apt is not asked again.
            write(cache, 'apt/trixie-backports/sources.sources', b'')
            self.assertEqual(needed(SOURCE, False, True),
                             (True, ['dpkg-query']))


if __name__ == '__main__':
    unittest.main()
