"""Decide whether a directory is a kernel tree the suite can be built in.

Every check runs before anything is touched, so a bad --kernel never
leaves a half-installed tree behind.
"""

import os
import re
import shutil
from typing import Callable, List, Optional

from .errors import SetupError

KUNIT_PY = os.path.join('tools', 'testing', 'kunit', 'kunit.py')
CHECKPATCH_PL = os.path.join('scripts', 'checkpatch.pl')
IOMMU_HEADER = os.path.join('include', 'linux', 'iommu.h')

# Files every kernel tree we can hook into has; drivers/iommu/iommu.c also
# proves the IOMMU core (which the hooks edit) is there.
TREE_MARKERS = ('Makefile', 'Kconfig', os.path.join('drivers', 'iommu',
                                                    'iommu.c'))

# struct iommu_mm_data arrived in v6.8 with the SVA rework; the suite
# tests that API, so older trees cannot build it.
IOMMU_MM_DATA = re.compile(r'\bstruct\s+iommu_mm_data\s*\{')

# Host tool -> Debian package that provides it.
HOST_TOOLS = (('gcc', 'gcc'), ('make', 'make'), ('flex', 'flex'),
              ('bison', 'bison'), ('bc', 'bc'))


def validate_tree(tree: str) -> str:
    """Return the absolute tree path, or raise SetupError saying why not."""
    path = os.path.abspath(tree)
    if not os.path.isdir(path):
        raise SetupError(f'{tree} is not a directory',
                         'pass --kernel=<top directory of a Linux source '
                         'tree>')
    missing = [m for m in TREE_MARKERS
               if not os.path.isfile(os.path.join(path, m))]
    if missing:
        raise SetupError(f'{tree} is not a kernel tree (no '
                         f'{", ".join(missing)})',
                         'pass the top directory of a Linux source tree')
    if not os.path.isfile(os.path.join(path, KUNIT_PY)):
        raise SetupError(f'{tree} has no {KUNIT_PY}',
                         'use a complete kernel source tree (v6.8 or later) '
                         'that ships the KUnit tool')
    header = os.path.join(path, IOMMU_HEADER)
    try:
        with open(header, encoding='utf-8', errors='replace') as f:
            text = f.read()
    except OSError:
        raise SetupError(f'{tree} is not a kernel tree (no {IOMMU_HEADER})',
                         'pass the top directory of a Linux source tree'
                         ) from None
    if not IOMMU_MM_DATA.search(text):
        raise SetupError(f'{tree}: tree is older than v6.8 (no struct '
                         'iommu_mm_data)',
                         'the suite needs v6.8 or later')
    return path


Which = Callable[[str], Optional[str]]


def missing_host_tools(which: Optional[Which] = None) -> List[str]:
    """Names of the build tools kunit.py needs that are not on PATH."""
    which = which or shutil.which
    return [tool for tool, _ in HOST_TOOLS if which(tool) is None]


def require_host_tools(which: Optional[Which] = None) -> None:
    missing = missing_host_tools(which)
    if missing:
        packages = [pkg for tool, pkg in HOST_TOOLS if tool in missing]
        raise SetupError('missing host tools: ' + ', '.join(missing),
                         'install them with: sudo apt-get install -y '
                         + ' '.join(packages))


def tree_label(tree: str) -> str:
    """Short, human-readable name used in build-dir names and messages."""
    return os.path.basename(os.path.abspath(tree).rstrip(os.sep)) or 'root'
