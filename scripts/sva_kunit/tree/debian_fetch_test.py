import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import unittest
from typing import List, Optional
from unittest import mock

from ..errors import SetupError
from ..testing_support import write
from . import debian_fetch
from .debian_fetch import Archive, Unavailable
from .kernel_sources import SOURCES

KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'
ARCHIVE = Archive('http://mirror.invalid/debian', KEYRING)
SOURCE = SOURCES['7.3']
VERSION = '7.3.4-1~bpo13+1'
DEB822 = '''Types: deb
# http://snapshot.invalid/archive/debian/20250520T000000Z
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

# the security archive
Types: deb deb-src
URIs: http://security.invalid/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
'''

SECURITY_ONLY = '''Types: deb
URIs: http://security.invalid/debian-security
Suites: bookworm-security
Components: main
'''

ONE_LINE = ('# deb http://old.invalid/debian bookworm main\n'
            'deb-src http://src.invalid/debian bookworm main\n'
            'deb [arch=amd64 signed-by=/etc/apt/keyrings/mirror.gpg] '
            'http://mirror.invalid/debian bookworm main non-free-firmware  '
            '# comment\n'
            'deb [ signed-by=/k.gpg ] http://other.invalid/debian '
            'bookworm-updates main\n'
            'deb http://plain.invalid/debian trixie main\n')


class ParseTest(unittest.TestCase):

    def test_deb822_stanzas_and_comments(self):
        first, second = debian_fetch.parse_deb822(DEB822, 'x.sources')
        self.assertEqual(first, {
            'types': 'deb', 'uris': 'http://mirror.invalid/debian',
            'suites': 'bookworm bookworm-updates',
            'components': 'main contrib', 'signed-by': KEYRING,
            'origin': 'x.sources'})
        self.assertEqual(second['types'], 'deb deb-src')
        self.assertEqual(second['suites'], 'bookworm-security')

    def test_deb822_names_are_case_insensitive_and_disabled_skipped(self):
        text = ('types: deb\nuris: http://a.invalid/debian\nsuites: bookworm\n'
                'components: main\n\nTypes: deb\nEnabled: no\n'
                'URIs: http://b.invalid/debian\nSuites: bookworm\n')
        [entry] = debian_fetch.parse_deb822(text)
        self.assertEqual(entry['uris'], 'http://a.invalid/debian')
        self.assertNotIn('signed-by', entry)

    def test_deb822_embedded_key_survives_a_round_trip(self):
        text = ('Types: deb\nURIs: http://a.invalid/debian\nSuites: bookworm\n'
                'Components: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY '
                'BLOCK-----\n .\n mQINBGPL\n -----END PGP PUBLIC KEY '
                'BLOCK-----\n')
        [entry] = debian_fetch.parse_deb822(text)
        sources = debian_fetch.private_sources(
            Archive(entry['uris'], entry['signed-by']), 'sid')
        self.assertTrue(sources.endswith(
            'Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGPL'
            '\n -----END PGP PUBLIC KEY BLOCK-----\n'), sources)

    def test_one_line_format(self):
        entries = debian_fetch.parse_one_line(ONE_LINE, 'sources.list')
        self.assertEqual([e['types'] for e in entries],
                         ['deb-src', 'deb', 'deb', 'deb'])
        self.assertEqual(entries[1], {
            'types': 'deb', 'uris': 'http://mirror.invalid/debian',
            'suites': 'bookworm', 'signed-by': '/etc/apt/keyrings/mirror.gpg',
            'origin': 'sources.list'})
        self.assertEqual(entries[2]['signed-by'], '/k.gpg')
        self.assertEqual(entries[3]['signed-by'], '')

    def test_release_codename(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'os-release')
            with open(path, 'w') as f:
                f.write('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
                        'VERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
            self.assertEqual(debian_fetch.release_codename(path), 'bookworm')
            self.assertEqual(debian_fetch.release_codename(path + '.no'), '')


class PickTest(unittest.TestCase):

    def test_the_entry_of_the_release_itself(self):
        entries = (debian_fetch.parse_deb822(SECURITY_ONLY) +
                   debian_fetch.parse_one_line(ONE_LINE))
        self.assertEqual(debian_fetch.pick_archive(entries, 'bookworm'),
                         Archive('http://mirror.invalid/debian',
                                 '/etc/apt/keyrings/mirror.gpg'))
        with mock.patch('os.path.isfile', lambda p: p == KEYRING):
            self.assertEqual(debian_fetch.pick_archive(entries, 'trixie'),
                             Archive('http://plain.invalid/debian', KEYRING))
        with mock.patch('os.path.isfile', lambda p: False):
            self.assertEqual(debian_fetch.pick_archive(entries, 'trixie'),
                             Archive('http://plain.invalid/debian', ''))

    def test_security_only_is_no_archive(self):
        entries = debian_fetch.parse_deb822(SECURITY_ONLY, '/e/debian.sources')
        with self.assertRaises(Unavailable) as cm:
            debian_fetch.pick_archive(entries, 'bookworm')
        self.assertEqual(str(cm.exception), 'no "deb" entry for suite '
                         'bookworm in /e/debian.sources')
        with self.assertRaisesRegex(Unavailable, 'VERSION_CODENAME'):
            debian_fetch.pick_archive(entries, '')

    def test_machine_archive_reads_both_formats(self):
        with tempfile.TemporaryDirectory() as tmp:
            etc = os.path.join(tmp, 'apt')
            write(etc, 'sources.list', b'# nothing here\n')
            write(etc, 'sources.list.d/security.sources',
                  SECURITY_ONLY.encode())
            write(etc, 'sources.list.d/other.list.disabled',
                  b'deb http://no.invalid/debian bookworm main\n')
            os_release = os.path.join(tmp, 'os-release')
            with open(os_release, 'w') as f:
                f.write('VERSION_CODENAME=bookworm\n')
            with self.assertRaisesRegex(Unavailable, 'security.sources$'):
                debian_fetch.machine_archive(etc, os_release)
            write(etc, 'sources.list.d/debian.sources', DEB822.encode())
            self.assertEqual(debian_fetch.machine_archive(etc, os_release),
                             Archive('http://mirror.invalid/debian', KEYRING))


class PrivateSourcesTest(unittest.TestCase):

    def test_content(self):
        self.assertEqual(debian_fetch.private_sources(
            Archive('http://mirror.invalid/debian', KEYRING),
            'trixie-backports'),
            'Types: deb\nURIs: http://mirror.invalid/debian\n'
            'Suites: trixie-backports\nComponents: main\n'
            f'Signed-By: {KEYRING}\n')
        self.assertEqual(debian_fetch.private_sources(
            Archive('http://mirror.invalid/debian', ''), 'sid'),
            'Types: deb\nURIs: http://mirror.invalid/debian\nSuites: sid\n'
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
            return subprocess.run(argv, check=False)
        assert kwargs['env']['LC_ALL'] == 'C'
        if argv[0] == 'apt-get' and argv[-1] == 'update':
            if self.update_rc:
                return subprocess.CompletedProcess(
                    argv, self.update_rc, '', 'E: Failed to fetch http://'
                    'mirror.invalid/debian/dists/trixie-backports/InRelease  '
                    "Could not resolve 'mirror.invalid'\nE: Some index files "
                    'failed to download.\n')
            return subprocess.CompletedProcess(argv, 0, 'Get:1 ...\n', '')
        if argv[0] == 'apt-cache':
            return subprocess.CompletedProcess(argv, 0, policy(self.version),
                                               '')
        if argv[0] == 'apt-get' and argv[-2] == 'download':
            if self.download_rc:
                return subprocess.CompletedProcess(
                    argv, self.download_rc, '', 'E: Failed to fetch http://'
                    'mirror.invalid/debian/pool/main/l/linux/x.deb  404  Not '
                    'Found\n')
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

    def fetch(self, archive=lambda: ARCHIVE) -> tuple:
        out = io.StringIO()
        tree = debian_fetch.fetched_tree(self.cache, SOURCE, out, self.apt,
                                         archive)
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
            self.assertEqual(f.read(), 'Types: deb\nURIs: http://mirror.'
                             'invalid/debian\nSuites: trixie-backports\n'
                             'Components: main\nSigned-By: /usr/share/'
                             'keyrings/debian-archive-keyring.gpg\n')
        # The .deb and its unpacked files are gone; the lists stay.
        self.assertEqual(sorted(os.listdir(self.root)),
                         ['cache', 'lists', 'sources.sources', 'updated'])
        self.assertTrue(os.path.isdir(os.path.join(self.root, 'lists',
                                                   'partial')))
        self.assertTrue(os.path.isdir(os.path.join(
            self.root, 'cache', 'archives', 'partial')))

    def test_a_download_left_by_a_dead_process_is_removed(self):
        dead = os.path.join(self.root, '.download-999999999-x')
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
        os.utime(os.path.join(self.root, 'updated'), (1, 1))
        self.apt.version = '7.3.5-1~bpo13+1'
        self.apt.calls.clear()
        second, _ = self.fetch()
        self.assertNotEqual(second, first)
        self.assertEqual(self.apt.commands()[0], 'apt-get --error-on=any '
                         'update')

    def test_changed_mirror_rewrites_sources_and_updates(self):
        self.fetch()
        self.apt.calls.clear()
        self.fetch(lambda: Archive('http://other.invalid/debian', ''))
        self.assertEqual(self.apt.commands()[0], 'apt-get --error-on=any '
                         'update')
        with open(os.path.join(self.root, 'sources.sources')) as f:
            self.assertIn('URIs: http://other.invalid/debian\n', f.read())

    def test_offline_uses_the_cached_tree_with_a_note(self):
        first, _ = self.fetch()
        os.unlink(os.path.join(self.root, 'updated'))
        self.apt.update_rc = 100
        again, out = self.fetch()
        self.assertEqual(again, first)
        self.assertEqual(out.splitlines()[-1], 'sva-kunit: note: '
                         'linux-source-7.3 from trixie-backports: apt-get '
                         'update failed: E: Failed to fetch http://mirror.'
                         'invalid/debian/dists/trixie-backports/InRelease '
                         "Could not resolve 'mirror.invalid'; using the tree "
                         f'fetched earlier, {first}')

    def error(self, archive=lambda: ARCHIVE) -> str:
        with self.assertRaises(SetupError) as cm:
            self.fetch(archive)
        self.assertFalse(os.path.exists(os.path.join(self.cache, 'trees')))
        return cm.exception.one_line()

    def test_offline_without_a_cached_tree_is_one_error_line(self):
        self.apt.update_rc = 100
        self.assertEqual(self.error(), "sva-kunit: error: linux-source-7.3 "
                         "is not available from this machine's Debian "
                         'archive (trixie-backports: apt-get update failed: '
                         'E: Failed to fetch http://mirror.invalid/debian/'
                         'dists/trixie-backports/InRelease Could not resolve '
                         "'mirror.invalid'); use --source=6.12 or "
                         '--kernel=DIR')

    def test_failed_download_leaves_nothing_behind(self):
        self.apt.download_rc = 100
        self.assertIn('(trixie-backports: apt-get download failed: E: Failed '
                      'to fetch http://mirror.invalid/debian/pool/main/l/'
                      'linux/x.deb 404 Not Found); use --source=6.12',
                      self.error())
        self.assertEqual(sorted(os.listdir(self.root)),
                         ['cache', 'lists', 'sources.sources', 'updated'])

    def test_package_unknown_in_the_suite(self):
        self.apt.version = None
        self.assertIn('(trixie-backports: no linux-source-7.3 in '
                      'http://mirror.invalid/debian trixie-backports); use '
                      '--source=6.12 or --kernel=DIR', self.error())

    def test_no_debian_entry_in_the_apt_config(self):
        def none() -> Archive:
            raise Unavailable('no "deb" entry for suite bookworm in '
                            '/etc/apt/sources.list.d/debian.sources')
        self.assertEqual(self.error(none), "sva-kunit: error: "
                         "linux-source-7.3 is not available from this "
                         "machine's Debian archive (trixie-backports: no "
                         '"deb" entry for suite bookworm in /etc/apt/'
                         'sources.list.d/debian.sources); use --source=6.12 '
                         'or --kernel=DIR')
        self.assertEqual(self.apt.calls, [])

    def fetch_files(self) -> tuple:
        out = io.StringIO()
        found = debian_fetch.fetched_tree(self.cache, SOURCE, out, self.apt,
                                          lambda: ARCHIVE,
                                          members=('Makefile',))
        return found, out.getvalue()

    def test_only_the_members_are_extracted_and_kept(self):
        files, out = self.fetch_files()
        self.assertEqual(files, os.path.join(
            self.cache, 'files', 'linux-source-7.3_7.3.4-1_bpo13+1'))
        self.assertEqual(os.listdir(files), ['Makefile'])
        self.assertIn('extracting Makefile from', out)
        self.assertFalse(os.path.exists(os.path.join(self.cache, 'trees')))
        self.assertEqual(sorted(os.listdir(self.root)),
                         ['cache', 'lists', 'sources.sources', 'updated'])
        self.apt.calls.clear()
        self.assertEqual(self.fetch_files(), (files, ''))
        self.assertEqual(self.apt.commands(),
                         ['apt-cache policy linux-source-7.3'])
        # Offline, the files fetched earlier serve, with a note.
        os.unlink(os.path.join(self.root, 'updated'))
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
        tarball = debian_fetch.fetched_tarball(self.cache, SOURCE, into,
                                               io.StringIO(), self.apt,
                                               lambda: ARCHIVE)
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
            self.assertFalse(debian_fetch.needed(SOURCES['6.12'], cache,
                                                 self.runner(False, False)[0]))
            run, calls = self.runner(True, False)
            self.assertFalse(debian_fetch.needed(SOURCE, cache, run))
            self.assertEqual(calls, ['dpkg-query'])
            run, calls = self.runner(False, True)
            self.assertFalse(debian_fetch.needed(SOURCE, cache, run))
            run, calls = self.runner(False, False)
            self.assertTrue(debian_fetch.needed(SOURCE, cache, run))
            self.assertEqual(calls, ['dpkg-query', 'apt-cache'])
            # Fetched before: the machine's apt is not asked again.
            write(cache, 'apt/trixie-backports/sources.sources', b'')
            run, calls = self.runner(False, True)
            self.assertTrue(debian_fetch.needed(SOURCE, cache, run))
            self.assertEqual(calls, ['dpkg-query'])


if __name__ == '__main__':
    unittest.main()
