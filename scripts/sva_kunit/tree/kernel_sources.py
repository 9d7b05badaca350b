"""The Debian kernel sources --source can pick, and where each comes from.

A source whose package the machine's own apt can install is installed
system-wide, as any build dependency (packages.ensure_packages).  One it
cannot (linux-source-7.3 on Debian 12, say) is fetched from its Debian
suite into the cache, without touching the machine's apt configuration
(debian_fetch.py decides which, and fetches).
"""

import argparse
from dataclasses import dataclass
from typing import Dict

from ..errors import SetupError


@dataclass(frozen=True)
class KernelSource:
    version: str     # what --source takes
    package: str     # the Debian package holding /usr/src/<package>.tar.xz
    # The Debian suite to fetch it from when the machine's apt has no
    # candidate for it; '' when only the machine's own apt may provide it.
    suite: str

    @property
    def tarball(self) -> str:
        """The tarball's path inside the package."""
        return f'/usr/src/{self.package}.tar.xz'


SOURCES: Dict[str, KernelSource] = {s.version: s for s in (
    KernelSource('7.3', 'linux-source-7.3', 'trixie-backports'),
    KernelSource('6.12', 'linux-source-6.12', ''),
    KernelSource('7.2', 'linux-source-7.2', 'sid'),
)}
DEFAULT_SOURCE = '7.3'


def source_version(text: str) -> str:
    """argparse type of --source: a version of the table."""
    if text not in SOURCES:
        raise argparse.ArgumentTypeError(
            f'--source={text} is not supported (supported: '
            f'{", ".join(SOURCES)})')
    return text


def get_source(version: str) -> KernelSource:
    try:
        return SOURCES[source_version(version)]
    except argparse.ArgumentTypeError as e:
        raise SetupError(str(e), 'pick one of those, or pass --kernel=DIR'
                         ) from None


def machine_sources() -> str:
    """The versions whose package only the machine's own apt provides."""
    return ', '.join(v for v, s in SOURCES.items() if not s.suite)


def help_text() -> str:
    """--source's help: every version, where it comes from."""
    parts = []
    for v, s in SOURCES.items():
        where = (f'fetched from {s.suite} into the cache unless this '
                 "machine's apt has it" if s.suite else 'installed with '
                 'apt-get')
        parts.append(f'{v} ({s.package}, {where}'
                     f'{"; the default" if v == DEFAULT_SOURCE else ""})')
    return ('the Debian kernel source to build when --kernel is not '
            'given: ' + '; '.join(parts))
