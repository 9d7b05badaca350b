"""Make sure the Debian packages the default (cached) tree needs are there.

Only the default path uses this: it builds the Debian kernel source, so
it may install what it needs when root.  With --kernel the user owns the
setup and only gets told what is missing (kernel_tree.require_host_tools).
"""

import os
import subprocess
from typing import Callable, Dict, List, Sequence, TextIO

from .errors import SetupError

SOURCE_PACKAGE = 'linux-source-6.12'
REQUIRED_PACKAGES = (SOURCE_PACKAGE, 'flex', 'bison', 'bc', 'libelf-dev',
                     'libssl-dev', 'gcc', 'make', 'python3', 'ccache')

Runner = Callable[..., 'subprocess.CompletedProcess[str]']


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
