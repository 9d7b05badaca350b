"""Is a directory a kernel tree the suite can be built in?  Checked before
anything is touched, so a bad --kernel never leaves a half-installed tree.
"""

import os
import re
import shutil
from typing import Callable, List, NamedTuple, Optional, Tuple

from ..errors import SetupError
from .kernel_sources import read_text

KUNIT_PY = os.path.join('tools', 'testing', 'kunit', 'kunit.py')

# drivers/iommu/iommu.c and iommu.h also prove the IOMMU core (which the
# hooks edit) is there.
TREE_MARKERS = ('Makefile', 'Kconfig', 'drivers/iommu/iommu.c',
                'include/linux/iommu.h')


class Requirement(NamedTuple):
    """Something the suite (or its fake driver) uses from the tree."""
    pattern: str               # a regex that finds it
    files: Tuple[str, ...]     # tree-relative; found in any one of them
    what: str                  # the API, and the version it came with


IOMMU_H = ('include/linux/iommu.h',)
# Every entry matches both linux-source-6.12 and linux-source-7.3.
REQUIREMENTS = (
    Requirement(r'\bstruct\s+iommu_mm_data\s*\{', IOMMU_H,
                'struct iommu_mm_data (v6.8, SVA domains per mm)'),
    Requirement(r'\bdomain_alloc_sva\b', IOMMU_H,
                'iommu_ops.domain_alloc_sva (v6.8)'),
    Requirement(r'\biommu_attach_handle_get\s*\(',
                IOMMU_H + ('drivers/iommu/iommu-priv.h',),
                'iommu_attach_handle_get() (v6.11, attach handles)'),
    Requirement(r'\biommu_paging_domain_alloc\s*\(', IOMMU_H,
                'iommu_paging_domain_alloc() (v6.11)'),
    Requirement(r'\biommu_fwspec_init\s*\(\s*struct\s+device\s*\*\s*\w+\s*,'
                r'\s*struct\s+fwnode_handle\s*\*\s*\w+\s*\)', IOMMU_H,
                'two-argument iommu_fwspec_init() (v6.11, "iommu: Resolve '
                'fwspec ops automatically")'),
    Requirement(r'\bkunit_vm_mmap\s*\(', ('include/kunit/test.h',),
                'kunit_vm_mmap() (v6.11)'),
    Requirement(r'\bEXPORT_SYMBOL(_GPL|_IF_KUNIT)?\s*\(\s*mm_alloc\s*\)',
                ('kernel/fork.c',),
                'mm_alloc() exported for KUnit (v6.11, with kunit_vm_mmap)'),
)
OLDEST = 'v6.11'   # the newest version named in REQUIREMENTS

# Host tools kunit.py needs; each is also its Debian package's name.
HOST_TOOLS = ('gcc', 'make', 'flex', 'bison', 'bc')


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
    missing = missing_requirements(path)
    if missing:
        raise SetupError(f'{tree}: the tree lacks what the suite needs: ' +
                         '; '.join(f'{r.what} in {" or ".join(r.files)}'
                                   for r in missing),
                         f'use a {OLDEST} or later kernel tree')
    return path


def missing_requirements(tree: str) -> List[Requirement]:
    """The REQUIREMENTS the tree does not meet (absent files meet none)."""
    return [r for r in REQUIREMENTS if not any(
        re.search(r.pattern, read_text(os.path.join(tree, f)))
        for f in r.files)]


def require_host_tools(which: Optional[Callable[[str], Optional[str]]]
                       = None) -> None:
    which = which or shutil.which   # looked up now: tests replace it
    missing = [tool for tool in HOST_TOOLS if which(tool) is None]
    if missing:
        raise SetupError('missing host tools: ' + ', '.join(missing),
                         'install them with: sudo apt-get install -y '
                         + ' '.join(missing))
