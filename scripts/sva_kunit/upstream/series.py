"""The upstream series: which files each patch carries, and its message.

Everything is computed from this checkout's files and the target tree's
files at the series' base (read through a callback), so the series
always carries the suite as it is now.  The C is resolved for the target
tree (see source_text): the series has no compatibility code.
"""

import os
import re
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from . import source_text
from .source_text import (insert_before_last, kconfig_entries,
                          maintainers_add_file, maintainers_add_section,
                          replace_once)

FAKE_DIR = 'drivers/iommu/fake-iommu'
COMPAT_MK = f'{FAKE_DIR}/compat.mk'
SUITE_C = 'drivers/iommu/iommu-sva-test.c'
MODEL_C = 'drivers/iommu/iommu-sva-model-test.c'
KUNITCONFIG = 'drivers/iommu/.kunitconfig'
CONFIG_FRAGMENT = 'tools/testing/kunit/configs/iommu_sva.config'
IOMMU_KCONFIG = 'drivers/iommu/Kconfig'
IOMMU_MAKEFILE = 'drivers/iommu/Makefile'
IOMMU_C = 'drivers/iommu/iommu.c'
KCONFIG_END = 'endif # IOMMU_SUPPORT'
SECTION = 'IOMMU SVA KUNIT TESTS'
MOCK_BUS_MACRO = 'FAKE_IOMMU_HAS_MOCK_BUS'
MOCK_BUS_GUARD = '#if IS_ENABLED(CONFIG_IOMMUFD_TEST)\n'

ReadBase = Callable[[str], Optional[str]]


@dataclass
class Patch:
    subject: str
    body: str
    # Path -> whole new content, for every file the patch adds or changes.
    files: Dict[str, str] = field(default_factory=dict)

    def message(self, signoff: str) -> str:
        return f'{self.subject}\n\n{self.body.strip()}\n\n{signoff}\n'


class SeriesError(Exception):
    """The checkout or the target tree does not fit the series."""


def read_repo_file(repo_root: str, rel: str) -> str:
    with open(os.path.join(repo_root, *rel.split('/')), encoding='utf-8',
              newline='') as f:
        return f.read()


def compat_macros(compat_mk: str, read: Callable[[str], str]
                  ) -> Dict[str, bool]:
    """Which FAKE_IOMMU_* macros compat.mk sets for the tree whose files
    read() returns: make evaluates compat.mk itself, on those of the
    tree's files it names, so its rules and these never drift apart."""
    named = set(re.findall(r'-D(FAKE_IOMMU_\w+)', compat_mk))
    needed = set(re.findall(r'\$\(srctree\)/([\w./-]+)', compat_mk))
    with tempfile.TemporaryDirectory(prefix='sva-kunit-compat-') as srctree:
        for rel in needed:
            if rel.endswith('.mk'):
                continue
            path = os.path.join(srctree, *rel.split('/'))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(read(rel))
        mk = os.path.join(srctree, 'compat.mk')
        with open(mk, 'w', encoding='utf-8') as f:
            f.write(compat_mk)
        probe = os.path.join(srctree, 'probe.mk')
        with open(probe, 'w', encoding='utf-8') as f:
            f.write(f'include {mk}\nall:\n'
                    '\t@echo $(fake_iommu_compat_flags)\n')
        proc = subprocess.run(['make', '-s', '-f', probe,
                               f'srctree={srctree}'],
                              capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SeriesError(f'make could not evaluate compat.mk: '
                          f'{proc.stderr.strip()[:200]}')
    defined = set(re.findall(r'-D(\w+)', proc.stdout))
    return {macro: macro in defined for macro in named}


def kernel_macros(read_base: ReadBase) -> Dict[str, bool]:
    values = {}
    for macro, header in source_text.KERNEL_MACROS.items():
        text = read_base(header) or ''
        values[macro] = bool(re.search(rf'#\s*define\s+{macro}\b', text))
    return values


def upstream_c(text: str, macros: Dict[str, bool], where: str) -> str:
    text = source_text.resolve_conditionals(text, macros, where)
    return source_text.strip_invariant_refs(text, where)


def _base(read_base: ReadBase, rel: str) -> str:
    text = read_base(rel)
    if text is None:
        raise SeriesError(f'the target tree has no {rel}')
    return text


def _fake_kconfig_entry(entry: str, modular: bool) -> str:
    """FAKE_IOMMU as the series has it: a module where the driver can be
    one (it then uses only exported symbols), and with a prompt, so that
    other tests can enable it."""
    if not modular:
        return entry
    entry = replace_once(entry, '\tbool\n',
                         '\ttristate "Fake IOMMU driver for KUnit tests" if '
                         '!KUNIT_ALL_TESTS\n', 'FAKE_IOMMU')
    return replace_once(entry, '\tdepends on KUNIT=y\n',
                        '\tdepends on KUNIT\n', 'FAKE_IOMMU')


def build_series(repo_root: str, read_base: ReadBase, author: str
                 ) -> List[Patch]:
    """The patches, oldest first.  author: "Name <email>", the
    maintainer the MAINTAINERS entry names."""
    compat_mk = read_repo_file(repo_root, COMPAT_MK)
    state: Dict[str, str] = {}

    def current(rel: str) -> str:
        return state[rel] if rel in state else _base(read_base, rel)

    patches: List[Patch] = []

    def commit(patch: Patch, changes: Dict[str, str]) -> None:
        state.update(changes)
        patch.files = dict(changes)
        patches.append(patch)

    uses_mock_bus = MOCK_BUS_MACRO in compat_mk
    if uses_mock_bus:
        iommu_c = replace_once(
            current(IOMMU_C), MOCK_BUS_GUARD,
            '#if IS_ENABLED(CONFIG_IOMMUFD_TEST) || '
            'IS_ENABLED(CONFIG_FAKE_IOMMU)\n', IOMMU_C)
        iommu_c = replace_once(
            iommu_c, ' * Register an iommu driver against a single bus. This '
            'is only used by iommufd\n * selftest to create a mock iommu '
            'driver. The caller must provide\n * some memory to hold a '
            'notifier_block.\n',
            ' * Register an iommu driver against a single bus. This is only '
            'used by test\n * drivers (the iommufd selftest, the fake IOMMU '
            'driver of KUnit tests) to\n * create a mock iommu driver. The '
            'caller must provide some memory to hold a\n * notifier_block.'
            '\n', IOMMU_C)
        commit(Patch(SUBJECT_MOCK_BUS, BODY_MOCK_BUS), {IOMMU_C: iommu_c})

    macros = compat_macros(compat_mk, current)
    macros.update(kernel_macros(read_base))
    modular = macros.get(MOCK_BUS_MACRO, False)

    head, entries = kconfig_entries(
        read_repo_file(repo_root, f'{FAKE_DIR}/Kconfig'))
    for symbol in ('FAKE_IOMMU', 'IOMMU_SVA_KUNIT_TEST'):
        if symbol not in entries:
            raise SeriesError(f'{FAKE_DIR}/Kconfig has no {symbol}')

    def c_file(rel: str) -> str:
        return upstream_c(read_repo_file(repo_root, rel), macros, rel)

    section = (f'{SECTION}\nM:\t{author}\nL:\tiommu@lists.linux.dev\n'
               f'S:\tMaintained\nF:\t{FAKE_DIR}/\n')
    commit(Patch(SUBJECT_FAKE, BODY_FAKE_MODULAR if modular else BODY_FAKE), {
        f'{FAKE_DIR}/Kconfig': head + _fake_kconfig_entry(
            entries['FAKE_IOMMU'], modular),
        f'{FAKE_DIR}/Makefile': source_text.makefile_obj_lines(
            read_repo_file(repo_root, f'{FAKE_DIR}/Makefile')),
        f'{FAKE_DIR}/fake-iommu.c': c_file(f'{FAKE_DIR}/fake-iommu.c'),
        f'{FAKE_DIR}/fake-iommu.h': c_file(f'{FAKE_DIR}/fake-iommu.h'),
        IOMMU_KCONFIG: insert_before_last(
            current(IOMMU_KCONFIG), KCONFIG_END,
            f'\nsource "{FAKE_DIR}/Kconfig"\n', IOMMU_KCONFIG),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE)
        + 'obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/\n',
        'MAINTAINERS': maintainers_add_section(current('MAINTAINERS'),
                                               section),
    })

    commit(Patch(SUBJECT_SUITE, BODY_SUITE), {
        SUITE_C: c_file(SUITE_C),
        KUNITCONFIG: read_repo_file(repo_root, KUNITCONFIG),
        IOMMU_KCONFIG: insert_before_last(
            current(IOMMU_KCONFIG), KCONFIG_END,
            '\n' + entries['IOMMU_SVA_KUNIT_TEST'], IOMMU_KCONFIG),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE)
        + 'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o\n',
        'MAINTAINERS': maintainers_add_file(
            maintainers_add_file(current('MAINTAINERS'), SECTION, SUITE_C),
            SECTION, KUNITCONFIG),
    })

    suite_line = 'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o'
    commit(Patch(SUBJECT_MODEL, BODY_MODEL), {
        MODEL_C: c_file(MODEL_C),
        IOMMU_MAKEFILE: replace_once(
            current(IOMMU_MAKEFILE), suite_line + '\n',
            '# Before iommu-sva-test.o: its leak suite must run last.\n'
            'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-model-test.o\n'
            + suite_line + '\n', IOMMU_MAKEFILE),
        'MAINTAINERS': maintainers_add_file(current('MAINTAINERS'), SECTION,
                                            MODEL_C),
    })

    commit(Patch(SUBJECT_CONFIG, BODY_CONFIG), {
        CONFIG_FRAGMENT: read_repo_file(repo_root, CONFIG_FRAGMENT),
        'MAINTAINERS': maintainers_add_file(current('MAINTAINERS'), SECTION,
                                            CONFIG_FRAGMENT),
    })
    return patches


def _body(text: str) -> str:
    return textwrap.dedent(text).strip() + '\n'


SUBJECT_MOCK_BUS = 'iommu: Let the fake IOMMU driver use the mock bus helpers'
BODY_MOCK_BUS = _body('''
    iommu_device_register_bus() and iommu_mock_device_add() let a test
    driver put its devices on a bus of its own, so that nothing on the
    platform or PCI bus can match them. Only the iommufd selftest can use
    them today. Build them for CONFIG_FAKE_IOMMU too: the next patch adds a
    fake multi-instance IOMMU driver for KUnit tests that registers its
    instances and client devices through them.

    No functional change for kernels without CONFIG_FAKE_IOMMU.
''')

SUBJECT_FAKE = 'iommu: Add a fake multi-instance IOMMU driver for KUnit tests'
_FAKE_COMMON = '''
    The SVA code in the IOMMU core (iommu-sva.c) shares one domain per mm
    between the devices of an IOMMU instance, or of several, depending on
    what the driver accepts, and holds references on the mm, the domain,
    the attach handle and the PASID that must balance across bind, unbind,
    process exit and __mmdrop(). None of this can be tested without PASID
    hardware today.

    Add a fake IOMMU driver whose instances and client devices are created
    by KUnit tests. Each instance has a sharing policy (a domain can be set
    on any device of the driver, as with VT-d, or only on the devices of the
    instance that allocated it, as with SMMUv3) and a PASID width; there
    are two copies of the ops, so that two drivers can be told apart.
    Client devices can share an iommu_group, have their own PASID width or
    none, and have driver failures injected into their next domain
    allocation or set_dev_pasid.

    The driver records every callback with the mm_count of the domain's mm
    at that moment, so that a test can check the order of the core's
    mmgrab()/mmdrop() against alloc, set_dev_pasid and free, and print the
    record when a count or an order is off. Like the iommufd selftest's
    mock driver, each callback also checks what the core owes it (a PASID
    inside the device's range, a domain of its own driver, no double set or
    double remove, no domain freed while still set, an SVA domain with its
    type, mm, owner and fault handler set) and fails the running test when
    the core breaks that contract.
'''
BODY_FAKE = _body(_FAKE_COMMON)
BODY_FAKE_MODULAR = _body(_FAKE_COMMON + '''
    The client devices sit on a bus of their own (the mock bus helpers of
    the previous patch), so enabling the driver, e.g. through
    KUNIT_ALL_TESTS, puts nothing on a bus a real driver could bind to. The
    driver uses only exported symbols and can be a module.
''')

SUBJECT_SUITE = 'iommu: Add KUnit tests for the SVA lifecycle'
BODY_SUITE = _body('''
    Add KUnit tests of the SVA lifecycle as the core implements it since
    "iommu: Support mm PASID 1:n with sva domains": bind and unbind mms on
    the devices of the fake IOMMU driver and check domain sharing on one
    instance and across instances and drivers, every reference count (attach
    handle users, domain users, the mm's mm_count), that an mm's PASID lives
    until __mmdrop() and is reused only after it, every error path without
    side effects, multi-device groups, fork, concurrent binds from several
    threads, and the global list of mms with SVA domains that kernel TLB
    invalidation walks.

    After every case an exit hook checks that no domain is left, that every
    PASID the case's mms held is free again, and that every set_dev_pasid
    was undone exactly once.

    The suite fails on each of the bugs these commits fixed, re-created in
    today's code:
      65d4418c5002 ("iommu/sva: Restore SVA handle sharing")
      6384c56c99d9 ("iommu/sva: Fix SVA handle sharing in multi device case")
      9991a82a3817 ("iommu/sva: Fix memory leak in iommu_sva_bind_device()")
      b025dea63cde ("iommu: Undo pasid attachment only for the devices that
                     have succeeded")
      b3f6fcd8404f ("iommu: Skip PASID validation for devices without PASID
                     capability")
      c20ecf7bb615 ("iommu/sva: Fix signedness bug in iommu_sva_alloc_pasid()")
      7be423336ecc ("iommu: Set owner token to SVA domain")
      2667ed10d9f0 ("mm: Fix PASID use-after-free issue")
      06e14c36e20b ("iommu/sva: Fix crash in iommu_sva_unbind_device()")

    The option is built-in only: the fork cases create a process with
    kernel_clone(), and the leak suite asks kmemleak for a scan through its
    debugfs file with vfs_write(); neither is exported. The leak suite's
    case is KUNIT_CASE_SLOW (a scan takes seconds) and runs last.

    Run with:
      ./tools/testing/kunit/kunit.py run --kunitconfig=drivers/iommu
''')

SUBJECT_MODEL = 'iommu: Add a model-based KUnit test of SVA bind and unbind'
BODY_MODEL = _body('''
    The hand-written cases check the sequences someone thought of. Add a
    second opinion: from a seed, build a small world of fake IOMMU
    instances, devices and mms, walk a random sequence of binds, unbinds,
    process exits, forks, injected driver failures and kernel range
    invalidations, and compare, after every step, what the core and the
    fake driver report with a model of the lifecycle written from its rules,
    not from the core's code: which binds fail and how, handle and domain
    users, each mm's domains, PASID and mm_count, and the driver calls the
    step causes.

    A failure prints the seed and the step, then shortens the sequence by
    replaying it in fresh worlds and prints the shortest failing one as
    test code. The default run walks a fixed set of seeds in well under a
    second; iommu_sva_model_test.seed=, .seeds=, .steps= and .soak_seeds=
    (a KUNIT_CASE_SLOW soak, skipped unless set) choose others.

    It is linked before iommu-sva-test.o, so that the leak suite still runs
    last.
''')

SUBJECT_CONFIG = ('kunit: configs: Add a debug config fragment for IOMMU '
                  'lifecycle tests')
BODY_CONFIG = _body('''
    The lifetime bugs the SVA tests look for (use-after-free, leaks, lock
    misuse, list and reference count corruption) often leave every KUnit
    assertion green and show only as a KASAN, lockdep, debug-list or
    kmemleak report. drivers/iommu/.kunitconfig enables these for the SVA
    suites; add the same options as a fragment that other IOMMU tests can
    be combined with:

      ./tools/testing/kunit/kunit.py run --kunitconfig=drivers/iommu \\
        --kunitconfig=tools/testing/kunit/configs/iommu_sva.config
''')
