"""The upstream series: each patch's message and files, computed from this
checkout and the target tree at the series' base, with the C resolved for
that tree (see source_text): the series has no compatibility code."""

import os
import re
import subprocess
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

from .source_text import (KERNEL_MACROS, kconfig_entries,
                          maintainers_add_section, makefile_obj_lines,
                          replace_once, resolve_conditionals,
                          strip_invariant_refs)

FAKE_DIR = 'drivers/iommu/fake-iommu'
SUITE_C = 'drivers/iommu/iommu-sva-test.c'
MODEL_C = 'drivers/iommu/iommu-sva-model-test.c'
KUNITCONFIG = 'drivers/iommu/.kunitconfig'
CONFIG_FRAGMENT = 'tools/testing/kunit/configs/iommu_sva.config'
IOMMU_KCONFIG = 'drivers/iommu/Kconfig'
IOMMU_MAKEFILE = 'drivers/iommu/Makefile'
IOMMU_C = 'drivers/iommu/iommu.c'
KCONFIG_END = 'endif # IOMMU_SUPPORT\n'
SECTION = 'IOMMU SVA KUNIT TESTS'
SUITE_OBJ = 'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o\n'
MESSAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'commit-messages.txt')


def read_repo_file(repo_root: str, rel: str) -> str:
    with open(os.path.join(repo_root, *rel.split('/')), encoding='utf-8',
              newline='') as f:
        return f.read()


def compat_macros(compat_mk: str, read: Callable[[str], str]
                  ) -> Dict[str, bool]:
    """Which FAKE_IOMMU_* macros compat.mk sets for the tree whose files
    read() returns: make evaluates compat.mk itself, on those of the
    tree's files it names, so its rules and these never drift apart."""
    with tempfile.TemporaryDirectory(prefix='sva-kunit-compat-') as srctree:
        for rel in re.findall(r'\$\(srctree\)/([\w./-]+)', compat_mk):
            path = os.path.join(srctree, *rel.split('/'))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(read(rel))
        proc = subprocess.run(
            ['make', '-s', '-f', '-', f'srctree={srctree}',
             '--eval=probe:; @echo $(fake_iommu_compat_flags)', 'probe'],
            input=compat_mk, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ValueError(f'make could not evaluate compat.mk: '
                         f'{proc.stderr.strip()[:200]}')
    defined = set(re.findall(r'-D(\w+)', proc.stdout))
    return {macro: macro in defined
            for macro in re.findall(r'-D(FAKE_IOMMU_\w+)', compat_mk)}


def build_series(repo_root: str, read_base: Callable[[str], Optional[str]],
                 author: str) -> List[Tuple[str, Dict[str, str]]]:
    """The patches, oldest first: (message, {path: whole new content}).
    author: "Name <email>", the maintainer the MAINTAINERS entry names.
    ValueError when the checkout or the tree does not fit the series."""
    state: Dict[str, str] = {}

    def current(rel: str) -> str:
        if rel not in state:
            text = read_base(rel)
            if text is None:
                raise ValueError(f'the target tree has no {rel}')
            state[rel] = text
        return state[rel]

    changes: List[Dict[str, str]] = []

    def commit(files: Dict[str, str]) -> None:
        state.update(files)
        changes.append(files)

    def ours(rel: str) -> str:
        return read_repo_file(repo_root, rel)

    # Patch 1: the mock bus helpers, for the fake driver too.
    iommu_c = replace_once(
        current(IOMMU_C), '#if IS_ENABLED(CONFIG_IOMMUFD_TEST)\n',
        '#if IS_ENABLED(CONFIG_IOMMUFD_TEST) || '
        'IS_ENABLED(CONFIG_FAKE_IOMMU)\n', IOMMU_C)
    commit({IOMMU_C: replace_once(
        iommu_c, ' * Register an iommu driver against a single bus. This '
        'is only used by iommufd\n * selftest to create a mock iommu '
        'driver. The caller must provide\n * some memory to hold a '
        'notifier_block.\n',
        ' * Register an iommu driver against a single bus. This is only '
        'used by test\n * drivers (the iommufd selftest, the fake IOMMU '
        'driver of KUnit tests) to\n * create a mock iommu driver. The '
        'caller must provide some memory to hold a\n * notifier_block.'
        '\n', IOMMU_C)})

    macros = compat_macros(ours(f'{FAKE_DIR}/compat.mk'), current)
    if not macros.get('FAKE_IOMMU_HAS_MOCK_BUS'):
        raise ValueError('compat.mk does not see the mock bus of patch 1')
    for macro, header in KERNEL_MACROS.items():
        macros[macro] = bool(re.search(rf'#\s*define\s+{macro}\b',
                                       read_base(header) or ''))

    def c_file(rel: str) -> str:
        text = resolve_conditionals(ours(rel), macros, rel)
        return strip_invariant_refs(text, rel)

    head, entries = kconfig_entries(ours(f'{FAKE_DIR}/Kconfig'))
    for symbol in ('FAKE_IOMMU', 'IOMMU_SVA_KUNIT_TEST'):
        if symbol not in entries:
            raise ValueError(f'{FAKE_DIR}/Kconfig has no {symbol}')
    # Upstream the driver can be a module (it uses only exported
    # symbols), and has a prompt so that other tests can enable it.
    fake_entry = replace_once(
        entries['FAKE_IOMMU'], '\tbool\n', '\ttristate "Fake IOMMU driver '
        'for KUnit tests" if !KUNIT_ALL_TESTS\n', 'FAKE_IOMMU')
    fake_entry = replace_once(fake_entry, '\tdepends on KUNIT=y\n',
                              '\tdepends on KUNIT\n', 'FAKE_IOMMU')
    listed = [f'{FAKE_DIR}/']

    def section() -> str:
        return (f'{SECTION}\nM:\t{author}\nL:\tiommu@lists.linux.dev\n'
                'S:\tMaintained\n' + ''.join(f'F:\t{rel}\n'
                                             for rel in sorted(listed)))

    def maintainers(*added: str) -> str:
        """MAINTAINERS with the series' section listing added too."""
        old = section()
        listed.extend(added)
        return replace_once(current('MAINTAINERS'), old, section(),
                            'MAINTAINERS')
    commit({
        f'{FAKE_DIR}/Kconfig': head + fake_entry,
        f'{FAKE_DIR}/Makefile': makefile_obj_lines(ours(
            f'{FAKE_DIR}/Makefile')),
        f'{FAKE_DIR}/fake-iommu.c': c_file(f'{FAKE_DIR}/fake-iommu.c'),
        f'{FAKE_DIR}/fake-iommu.h': c_file(f'{FAKE_DIR}/fake-iommu.h'),
        IOMMU_KCONFIG: replace_once(
            current(IOMMU_KCONFIG), KCONFIG_END,
            f'\nsource "{FAKE_DIR}/Kconfig"\n{KCONFIG_END}', IOMMU_KCONFIG),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE)
        + 'obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/\n',
        'MAINTAINERS': maintainers_add_section(current('MAINTAINERS'),
                                               section()),
    })

    commit({
        SUITE_C: c_file(SUITE_C),
        KUNITCONFIG: ours(KUNITCONFIG),
        IOMMU_KCONFIG: replace_once(
            current(IOMMU_KCONFIG), KCONFIG_END,
            f'\n{entries["IOMMU_SVA_KUNIT_TEST"]}{KCONFIG_END}',
            IOMMU_KCONFIG),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE) + SUITE_OBJ,
        'MAINTAINERS': maintainers(SUITE_C, KUNITCONFIG),
    })

    commit({
        MODEL_C: c_file(MODEL_C),
        IOMMU_MAKEFILE: replace_once(
            current(IOMMU_MAKEFILE), SUITE_OBJ,
            '# Before iommu-sva-test.o: its leak suite must run last.\n'
            'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-model-test.o\n'
            + SUITE_OBJ, IOMMU_MAKEFILE),
        'MAINTAINERS': maintainers(MODEL_C),
    })

    commit({
        CONFIG_FRAGMENT: ours(CONFIG_FRAGMENT),
        'MAINTAINERS': maintainers(CONFIG_FRAGMENT),
    })
    with open(MESSAGES, encoding='utf-8') as f:
        messages = f.read().split('\n---\n')
    return list(zip(messages, changes))
