"""Is a directory a kernel tree the suite can be built in?  Checked before
anything is touched, so a bad --kernel never leaves a half-installed tree."""

import os
import re
import shutil

from ..errors import SetupError
from .kernel_sources import read_text

KUNIT_PY = os.path.join('tools', 'testing', 'kunit', 'kunit.py')

# A kernel tree of any age has these; a tree new enough for the suite
# has the IOMMU core too, which the hooks edit.
TREE_MARKERS = ('Makefile', 'Kconfig', 'init/main.c')
IOMMU_MARKERS = ('drivers/iommu/iommu.c', 'include/linux/iommu.h')


IOMMU_H = ('include/linux/iommu.h',)
# What the suite (or its fake driver) uses from the tree: a regex, the
# files any one of which may hold it, and the API with its version.
# Every entry matches both linux-source-6.12 and linux-source-7.3.
REQUIREMENTS = (
    (r'\bstruct\s+iommu_mm_data\s*\{', IOMMU_H,
     'struct iommu_mm_data (v6.8, SVA domains per mm)'),
    (r'\bdomain_alloc_sva\b', IOMMU_H, 'iommu_ops.domain_alloc_sva (v6.8)'),
    (r'\biommu_attach_handle_get\s*\(',
     IOMMU_H + ('drivers/iommu/iommu-priv.h',),
     'iommu_attach_handle_get() (v6.11, attach handles)'),
    (r'\biommu_paging_domain_alloc\s*\(', IOMMU_H,
     'iommu_paging_domain_alloc() (v6.11)'),
    (r'\biommu_fwspec_init\s*\(\s*struct\s+device\s*\*\s*\w+\s*,'
     r'\s*struct\s+fwnode_handle\s*\*\s*\w+\s*\)', IOMMU_H,
     'two-argument iommu_fwspec_init() (v6.11, "iommu: Resolve fwspec ops '
     'automatically")'),
    (r'\bkunit_vm_mmap\s*\(', ('include/kunit/test.h',),
     'kunit_vm_mmap() (v6.11)'),
    (r'\bEXPORT_SYMBOL(_GPL|_IF_KUNIT)?\s*\(\s*mm_alloc\s*\)',
     ('kernel/fork.c',),
     'mm_alloc() exported for KUnit (v6.11, with kunit_vm_mmap)'),
)
OLDEST = 'v6.11'   # the newest version named in REQUIREMENTS

# Host tools kunit.py needs; each is also its Debian package's name.
HOST_TOOLS = ('gcc', 'make', 'flex', 'bison', 'bc', 'python3')


def require_kernel_tree(tree: str) -> str:
    """The absolute path of tree if it is the top of a kernel source tree
    of any age; SetupError saying why not."""
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
    return path


def validate_tree(tree: str) -> str:
    """require_kernel_tree(), and a tree new enough for the suite."""
    path = require_kernel_tree(tree)
    missing = [m for m in IOMMU_MARKERS
               if not os.path.isfile(os.path.join(path, m))]
    if missing:
        raise SetupError(f'{tree} has no IOMMU core (no '
                         f'{", ".join(missing)})', f'use a {OLDEST} or later '
                         'kernel tree')
    if not os.path.isfile(os.path.join(path, KUNIT_PY)):
        raise SetupError(f'{tree} has no {KUNIT_PY}',
                         f'use a complete kernel source tree ({OLDEST} or '
                         'later) that ships the KUnit tool')
    lacks = [f'{what} in {" or ".join(files)}'
             for pattern, files, what in REQUIREMENTS if not any(
                 re.search(pattern, read_text(os.path.join(path, f)))
                 for f in files)]
    if lacks:
        raise SetupError(f'{tree}: the tree lacks what the suite needs: ' +
                         '; '.join(lacks), f'use a {OLDEST} or later kernel '
                         'tree')
    return path


def require_host_tools() -> None:
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        raise SetupError('missing host tools: ' + ', '.join(missing),
                         'install them with: sudo apt-get install -y '
                         + ' '.join(missing))
