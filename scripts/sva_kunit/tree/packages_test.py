import io
import subprocess
import unittest
from typing import List

from ..errors import SetupError
from . import packages


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


ALL = {p: '1' for p in packages.REQUIRED_PACKAGES}


class PackagesTest(unittest.TestCase):

    def test_all_installed_returns_versions(self):
        fake = FakeDpkg(dict(ALL, **{'linux-source-6.12': '6.12.117-1'}))
        versions = packages.ensure_packages(
            io.StringIO(), packages.REQUIRED_PACKAGES + ('linux-source-6.12',),
            run=fake, is_root=lambda: False)
        self.assertEqual(versions['linux-source-6.12'], '6.12.117-1')
        self.assertEqual([c[0] for c in fake.calls], ['dpkg-query'])

    def test_no_kernel_source_among_the_host_packages(self):
        self.assertFalse(any(p.startswith('linux-source')
                             for p in packages.REQUIRED_PACKAGES))

    def test_candidate(self):
        def policy(stdout):
            def run(argv, **kwargs):
                self.assertEqual(argv, ['apt-cache', 'policy', 'pkg'])
                self.assertEqual(kwargs['env']['LC_ALL'], 'C')
                return subprocess.CompletedProcess(argv, 0, stdout, '')
            return run
        self.assertEqual(packages.candidate('pkg', policy(
            'pkg:\n  Installed: (none)\n  Candidate: 6.12.117-1~deb12u1\n')),
            '6.12.117-1~deb12u1')
        self.assertEqual(packages.candidate('pkg', policy(
            'pkg:\n  Installed: (none)\n  Candidate: (none)\n')), '')
        self.assertEqual(packages.candidate('pkg', policy('')), '')

        def no_apt(argv, **kwargs):
            raise FileNotFoundError(argv[0])
        self.assertEqual(packages.candidate('pkg', no_apt), '')

    def test_not_installed_states_count_as_missing(self):
        def run(argv, **kwargs):
            return subprocess.CompletedProcess(
                argv, 0, 'bc\tdeinstall ok config-files\t1.07\n'
                'flex\tinstall ok installed\t2.6\n', '')
        self.assertEqual(packages.installed_versions(['bc', 'flex'], run),
                         {'flex': '2.6'})

    def test_missing_as_user_is_one_line_error(self):
        fake = FakeDpkg({p: '1' for p in ALL if p not in ('flex', 'bc')})
        with self.assertRaises(SetupError) as cm:
            packages.ensure_packages(io.StringIO(), run=fake,
                                     is_root=lambda: False)
        self.assertEqual(cm.exception.one_line(), 'sva-kunit: error: missing '
                         'Debian packages: flex bc; install them with: sudo '
                         'apt-get install -y flex bc')
        self.assertFalse(any(c[0] == 'apt-get' for c in fake.calls))

    def test_missing_as_root_installs_with_apt(self):
        fake = FakeDpkg({p: '1' for p in ALL if p != 'ccache'})
        packages.ensure_packages(io.StringIO(), run=fake,
                                 is_root=lambda: True)
        self.assertIn(['apt-get', 'update'], fake.calls)
        self.assertIn(['apt-get', 'install', '-y', 'ccache'], fake.calls)

    def test_apt_failure_is_setup_error(self):
        fake = FakeDpkg({})
        fake.apt_rc = 100
        with self.assertRaises(SetupError) as cm:
            packages.ensure_packages(io.StringIO(), run=fake,
                                     is_root=lambda: True)
        self.assertIn('"apt-get update" failed (exit 100)', str(cm.exception))

    def test_no_dpkg(self):
        def run(argv, **kwargs):
            raise FileNotFoundError(argv[0])
        with self.assertRaises(SetupError):
            packages.installed_versions(['bc'], run)


if __name__ == '__main__':
    unittest.main()
