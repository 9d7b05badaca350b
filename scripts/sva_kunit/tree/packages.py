"""Make sure the Debian packages a command needs are there.

The default path builds the Debian kernel source, so it may install what
that needs when root.  With --kernel the user owns the build setup and
only gets told what is missing (kernel_tree.require_host_tools); only
--arch's cross compiler and QEMU are installed then.  The kernel source
package itself depends on --source (kernel_sources.py).
"""

import os
import subprocess
from typing import Callable, Dict, List, Sequence, TextIO

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
    # dpkg-query exits 1 when some package is unknown; that is an answer,
    # not an error, so only the output matters.
    versions: Dict[str, str] = {}
    for line in proc.stdout.splitlines():
        fields = line.split('\t')
        if len(fields) != 3:
            continue
        name, status, version = fields
        if status.split()[-1:] == ['installed'] and version:
            versions[name.split(':')[0]] = version
    return versions


def has_candidate(package: str, run: Runner = subprocess.run) -> bool:
    """Can the machine's configured apt suites install `package`?"""
    try:
        proc = run(['apt-cache', 'policy', package], capture_output=True,
                   text=True, check=False, env=dict(os.environ, **C_LOCALE))
    except FileNotFoundError:
        return False
    # An unknown package prints nothing; a known one without a version
    # in any suite says "Candidate: (none)".
    for line in proc.stdout.splitlines():
        key, _, value = line.strip().partition(':')
        if key == 'Candidate':
            return value.strip() not in ('', '(none)')
    return False


def missing_packages(packages: Sequence[str],
                     run: Runner = subprocess.run) -> List[str]:
    have = installed_versions(packages, run)
    return [p for p in packages if p not in have]


def _apt(args: List[str], run: Runner, out: TextIO) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    out.write('sva-kunit: ' + ' '.join(args) + '\n')
    out.flush()
    proc = run(args, env=env, check=False)
    if proc.returncode != 0:
        raise SetupError(f'"{" ".join(args)}" failed (exit '
                         f'{proc.returncode})', 'fix apt (see its output '
                         'above) and rerun')


def ensure_packages(out: TextIO, packages: Sequence[str] = REQUIRED_PACKAGES,
                    run: Runner = subprocess.run,
                    is_root: Callable[[], bool] = lambda: os.geteuid() == 0
                    ) -> Dict[str, str]:
    """Install missing packages when root, else explain; return versions."""
    missing = missing_packages(packages, run)
    if missing and not is_root():
        raise SetupError('missing Debian packages: ' + ' '.join(missing),
                         'install them with: sudo apt-get install -y '
                         + ' '.join(missing))
    if missing:
        _apt(['apt-get', 'update'], run, out)
        _apt(['apt-get', 'install', '-y', *missing], run, out)
        still = missing_packages(packages, run)
        if still:
            raise SetupError('apt-get did not install: ' + ' '.join(still),
                             'install them by hand and rerun')
    return installed_versions(packages, run)
