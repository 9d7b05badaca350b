"""Decide whether a directory is a kernel tree the suite can be built in.

Every check runs before anything is touched, so a bad --kernel never
leaves a half-installed tree behind.
"""

import os
import re
import shutil
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from ..errors import SetupError

KUNIT_PY = os.path.join('tools', 'testing', 'kunit', 'kunit.py')
CHECKPATCH_PL = os.path.join('scripts', 'checkpatch.pl')
IOMMU_HEADER = os.path.join('include', 'linux', 'iommu.h')

# Files every kernel tree we can hook into has; drivers/iommu/iommu.c also
# proves the IOMMU core (which the hooks edit) is there.
TREE_MARKERS = ('Makefile', 'Kconfig', os.path.join('drivers', 'iommu',
                                                    'iommu.c'))



@dataclass(frozen=True)
class Requirement:
    """Something the suite (or its fake driver) uses from the tree."""
    pattern: str               # a regex that finds it
    files: Tuple[str, ...]     # tree-relative; found in any one of them
    what: str                  # the API, and the version it came with

    def found(self, read: Callable[[str], str]) -> bool:
        return any(re.search(self.pattern, read(f)) for f in self.files)


IOMMU_PRIV_H = 'drivers/iommu/iommu-priv.h'
# Every entry matches both linux-source-6.12 and linux-source-7.3.
REQUIREMENTS = (
    Requirement(r'\bstruct\s+iommu_mm_data\s*\{', ('include/linux/iommu.h',),
                'struct iommu_mm_data (v6.8, SVA domains per mm)'),
    Requirement(r'\bdomain_alloc_sva\b', ('include/linux/iommu.h',),
                'iommu_ops.domain_alloc_sva (v6.8)'),
    Requirement(r'\biommu_attach_handle_get\s*\(',
                ('include/linux/iommu.h', IOMMU_PRIV_H),
                'iommu_attach_handle_get() (v6.11, attach handles)'),
    Requirement(r'\biommu_paging_domain_alloc\s*\(',
                ('include/linux/iommu.h',),
                'iommu_paging_domain_alloc() (v6.11)'),
    Requirement(r'\biommu_fwspec_init\s*\(\s*struct\s+device\s*\*\s*\w+\s*,'
                r'\s*struct\s+fwnode_handle\s*\*\s*\w+\s*\)',
                ('include/linux/iommu.h',),
                'two-argument iommu_fwspec_init() (v6.11, "iommu: Resolve '
                'fwspec ops automatically")'),
    Requirement(r'\bkunit_vm_mmap\s*\(', ('include/kunit/test.h',),
                'kunit_vm_mmap() (v6.11)'),
    Requirement(r'\bEXPORT_SYMBOL(_GPL|_IF_KUNIT)?\s*\(\s*mm_alloc\s*\)',
                ('kernel/fork.c',),
                'mm_alloc() exported for KUnit (v6.11, with kunit_vm_mmap)'),
)
OLDEST = 'v6.11'   # the newest version named in REQUIREMENTS

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
                         f'use a complete kernel source tree ({OLDEST} or '
                         'later) that ships the KUnit tool')
    if not os.path.isfile(os.path.join(path, IOMMU_HEADER)):
        raise SetupError(f'{tree} is not a kernel tree (no {IOMMU_HEADER})',
                         'pass the top directory of a Linux source tree')
    missing = missing_requirements(path)
    if missing:
        raise SetupError(f'{tree}: the tree lacks what the suite needs: ' +
                         '; '.join(f'{r.what} in {" or ".join(r.files)}'
                                   for r in missing),
                         f'use a {OLDEST} or later kernel tree')
    return path


def missing_requirements(tree: str) -> List[Requirement]:
    """The REQUIREMENTS the tree does not meet (an absent file meets
    none)."""
    texts: Dict[str, str] = {}

    def read(rel: str) -> str:
        if rel not in texts:
            try:
                with open(os.path.join(tree, *rel.split('/')),
                          encoding='utf-8', errors='replace') as f:
                    texts[rel] = f.read()
            except OSError:
                texts[rel] = ''
        return texts[rel]
    return [r for r in REQUIREMENTS if not r.found(read)]


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
