import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import unittest
from typing import List, Optional

from ..errors import SetupError
from . import debian_fetch
from .apt_config import Archive, NoArchive
from .kernel_sources import SOURCES

ARCHIVE = Archive('http://mirror.invalid/debian',
                  '/usr/share/keyrings/debian-archive-keyring.gpg')
SOURCE = SOURCES['7.3']
VERSION = '7.3.4-1~bpo13+1'


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
            raise NoArchive('no "deb" entry for suite bookworm in '
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
            apt = debian_fetch.private_apt(cache, 'trixie-backports')
            debian_fetch.prepare(apt, ARCHIVE, 'trixie-backports')
            run, calls = self.runner(False, True)
            self.assertTrue(debian_fetch.needed(SOURCE, cache, run))
            self.assertEqual(calls, ['dpkg-query'])


if __name__ == '__main__':
    unittest.main()
