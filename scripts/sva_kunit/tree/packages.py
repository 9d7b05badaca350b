"""The Debian packages a command needs: installed when root, else named."""

import os
import subprocess
from typing import Callable, Dict, Sequence, TextIO

from ..errors import SetupError

# What building any kernel source needs; the source package is added by
# the caller when it comes from the machine's apt.
REQUIRED_PACKAGES = ('flex', 'bison', 'bc', 'libelf-dev', 'libssl-dev',
                     'gcc', 'make', 'python3', 'ccache')

Runner = Callable[..., 'subprocess.CompletedProcess[str]']
# apt's messages are translated; its output is parsed only in this locale.
C_LOCALE = {'LC_ALL': 'C', 'LANGUAGE': ''}


def installed_versions(packages: Sequence[str],
                       run: Runner = subprocess.run) -> Dict[str, str]:
    """package -> version for those of `packages` that are installed."""
    try:
        proc = run(['dpkg-query', '-W', '-f=${Package}\t${Status}\t'
                    '${Version}\n', *packages],
                   capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SetupError('dpkg-query not found (the default kernel tree '
                         'comes from a Debian package)',
                         'run on Debian/Ubuntu or pass --kernel=DIR'
                         ) from None
    # dpkg-query exits 1 when some package is unknown: only the output
    # matters.
    versions = {}
    for line in proc.stdout.splitlines():
        name, status, version = (line.split('\t') + ['', ''])[:3]
        if status.endswith(' installed') and version:
            versions[name.split(':')[0]] = version
    return versions


def candidate(package: str, run: Runner = subprocess.run,
              apt_options: Sequence[str] = ()) -> str:
    """The version apt would install, '' if none (or no apt)."""
    try:
        proc = run(['apt-cache', *apt_options, 'policy', package],
                   capture_output=True, text=True, check=False,
                   env=dict(os.environ, **C_LOCALE))
    except FileNotFoundError:
        return ''
    # An unknown package prints nothing; a known one without a version
    # in any suite says "Candidate: (none)".
    for line in proc.stdout.splitlines():
        key, _, value = line.strip().partition(':')
        if key == 'Candidate' and value.strip() != '(none)':
            return value.strip()
    return ''


def ensure_packages(out: TextIO, packages: Sequence[str] = REQUIRED_PACKAGES,
                    run: Runner = subprocess.run,
                    is_root: Callable[[], bool] = lambda: os.geteuid() == 0
                    ) -> Dict[str, str]:
    """Install missing packages when root, else explain; return versions."""
    versions = installed_versions(packages, run)
    missing = [p for p in packages if p not in versions]
    if missing and not is_root():
        raise SetupError('missing Debian packages: ' + ' '.join(missing),
                         'install them with: sudo apt-get install -y '
                         + ' '.join(missing))
    if not missing:
        return versions
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    for argv in (['apt-get', 'update'], ['apt-get', 'install', '-y',
                                         *missing]):
        out.write('sva-kunit: ' + ' '.join(argv) + '\n')
        out.flush()
        proc = run(argv, env=env, check=False)
        if proc.returncode != 0:
            raise SetupError(f'"{" ".join(argv)}" failed (exit '
                             f'{proc.returncode})', 'fix apt (see its '
                             'output above) and rerun')
    versions = installed_versions(packages, run)
    still = [p for p in packages if p not in versions]
    if still:
        raise SetupError('apt-get did not install: ' + ' '.join(still),
                         'install them by hand and rerun')
    return versions
