import os
import tempfile
import unittest

from ..testing_support import write
from . import apt_config
from .apt_config import AptEntry, Archive, NoArchive

KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'

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
        first, second = apt_config.parse_deb822(DEB822, 'x.sources')
        self.assertEqual(first, AptEntry(
            ('deb',), ('http://mirror.invalid/debian',),
            ('bookworm', 'bookworm-updates'), ('main', 'contrib'), KEYRING,
            'x.sources'))
        self.assertEqual(second.types, ('deb', 'deb-src'))
        self.assertEqual(second.suites, ('bookworm-security',))

    def test_deb822_names_are_case_insensitive_and_disabled_skipped(self):
        text = ('types: deb\nuris: http://a.invalid/debian\nsuites: bookworm\n'
                'components: main\n\nTypes: deb\nEnabled: no\n'
                'URIs: http://b.invalid/debian\nSuites: bookworm\n')
        [entry] = apt_config.parse_deb822(text)
        self.assertEqual(entry.uris, ('http://a.invalid/debian',))
        self.assertEqual(entry.signed_by, '')

    def test_deb822_embedded_key_survives_a_round_trip(self):
        text = ('Types: deb\nURIs: http://a.invalid/debian\nSuites: bookworm\n'
                'Components: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY '
                'BLOCK-----\n .\n mQINBGPL\n -----END PGP PUBLIC KEY '
                'BLOCK-----\n')
        [entry] = apt_config.parse_deb822(text)
        sources = apt_config.private_sources(
            Archive(entry.uris[0], entry.signed_by), 'sid')
        self.assertTrue(sources.endswith(
            'Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGPL'
            '\n -----END PGP PUBLIC KEY BLOCK-----\n'), sources)

    def test_one_line_format(self):
        entries = apt_config.parse_one_line(ONE_LINE, 'sources.list')
        self.assertEqual([e.types for e in entries],
                         [('deb-src',), ('deb',), ('deb',), ('deb',)])
        self.assertEqual(entries[1], AptEntry(
            ('deb',), ('http://mirror.invalid/debian',), ('bookworm',),
            ('main', 'non-free-firmware'), '/etc/apt/keyrings/mirror.gpg',
            'sources.list'))
        self.assertEqual(entries[2].signed_by, '/k.gpg')
        self.assertEqual(entries[3].signed_by, '')

    def test_release_codename(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'os-release')
            with open(path, 'w') as f:
                f.write('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
                        'VERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
            self.assertEqual(apt_config.release_codename(path), 'bookworm')
            self.assertEqual(apt_config.release_codename(path + '.no'), '')


class PickTest(unittest.TestCase):

    def test_the_entry_of_the_release_itself(self):
        entries = (apt_config.parse_deb822(SECURITY_ONLY) +
                   apt_config.parse_one_line(ONE_LINE))
        self.assertEqual(apt_config.pick_archive(entries, 'bookworm'),
                         Archive('http://mirror.invalid/debian',
                                 '/etc/apt/keyrings/mirror.gpg'))
        self.assertEqual(apt_config.pick_archive(entries, 'trixie',
                                                 lambda p: p == KEYRING),
                         Archive('http://plain.invalid/debian', KEYRING))
        self.assertEqual(apt_config.pick_archive(entries, 'trixie',
                                                 lambda p: False),
                         Archive('http://plain.invalid/debian', ''))

    def test_security_only_is_no_archive(self):
        entries = apt_config.parse_deb822(SECURITY_ONLY, '/e/debian.sources')
        with self.assertRaises(NoArchive) as cm:
            apt_config.pick_archive(entries, 'bookworm')
        self.assertEqual(str(cm.exception), 'no "deb" entry for suite '
                         'bookworm in /e/debian.sources')
        with self.assertRaisesRegex(NoArchive, 'VERSION_CODENAME'):
            apt_config.pick_archive(entries, '')

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
            with self.assertRaisesRegex(NoArchive, 'security.sources$'):
                apt_config.machine_archive(etc, os_release)
            write(etc, 'sources.list.d/debian.sources', DEB822.encode())
            self.assertEqual(apt_config.machine_archive(etc, os_release),
                             Archive('http://mirror.invalid/debian', KEYRING))


class PrivateSourcesTest(unittest.TestCase):

    def test_content(self):
        self.assertEqual(apt_config.private_sources(
            Archive('http://mirror.invalid/debian', KEYRING),
            'trixie-backports'),
            'Types: deb\nURIs: http://mirror.invalid/debian\n'
            'Suites: trixie-backports\nComponents: main\n'
            f'Signed-By: {KEYRING}\n')
        self.assertEqual(apt_config.private_sources(
            Archive('http://mirror.invalid/debian', ''), 'sid'),
            'Types: deb\nURIs: http://mirror.invalid/debian\nSuites: sid\n'
            'Components: main\n')


if __name__ == '__main__':
    unittest.main()
