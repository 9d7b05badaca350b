"""Fake kernel trees, fake payload repos and tree snapshots for the tests.

Not a test module itself (no *_test.py name), so discovery skips it.
"""

import os
import stat
import subprocess
import tempfile
import unittest
from typing import Dict, Mapping, Optional, Tuple

from .tree.payload import PayloadFile, collect_payload

IOMMU_KCONFIG = b'''# SPDX-License-Identifier: GPL-2.0-only
menuconfig IOMMU_SUPPORT
\tbool "IOMMU Hardware Support"

if IOMMU_SUPPORT

config IOMMU_SVA
\tbool

endif # IOMMU_SUPPORT

config IOMMU_DEBUG_PAGEALLOC
\tbool
'''

IOMMU_MAKEFILE = b'''# SPDX-License-Identifier: GPL-2.0
obj-$(CONFIG_IOMMU_API) += iommu.o
obj-$(CONFIG_IOMMU_SVA) += iommu-sva.o
'''

# What kernel_tree.REQUIREMENTS looks for, as v6.12's headers have it.
IOMMU_H_NEW = (b'struct iommu_mm_data {\n\tu32 pasid;\n};\n'
               b'struct iommu_ops {\n\tstruct iommu_domain '
               b'*(*domain_alloc_sva)(struct device *dev,\n'
               b'\t\t\t\t\t      struct mm_struct *mm);\n};\n'
               b'struct iommu_domain *iommu_paging_domain_alloc(struct device '
               b'*dev);\n'
               b'int iommu_fwspec_init(struct device *dev, '
               b'struct fwnode_handle *iommu_fwnode);\n')
IOMMU_PRIV_H = (b'struct iommu_attach_handle *iommu_attach_handle_get('
                b'struct iommu_group *group, ioasid_t pasid, unsigned int '
                b'type);\n')
KUNIT_TEST_H = (b'unsigned long kunit_vm_mmap(struct kunit *test, struct file '
                b'*file, unsigned long addr, unsigned long len, unsigned long '
                b'prot, unsigned long flag, unsigned long offset);\n')
FORK_C = (b'struct mm_struct *mm_alloc(void)\n{\n}\n'
          b'EXPORT_SYMBOL_IF_KUNIT(mm_alloc);\n')
IOMMU_H_OLD = b'struct iommu_sva {\n\tstruct device *dev;\n};\n'

DEFAULT_PAYLOAD: Dict[str, bytes] = {
    'drivers/iommu/iommu-sva-test.c': b'// test\n',
    'drivers/iommu/.kunitconfig': b'CONFIG_KUNIT=y\n',
    'drivers/iommu/fake-iommu/Kconfig': b'config FAKE_IOMMU\n\tbool\n',
    'drivers/iommu/fake-iommu/Makefile': b'obj-y += fake-iommu.o\n',
    'drivers/iommu/fake-iommu/fake-iommu.c': b'// fake\n',
    'drivers/iommu/fake-iommu/fake-iommu.h': b'/* fake */\n',
    'tools/testing/kunit/configs/iommu_sva.config': b'CONFIG_KUNIT=y\n',
}


def write(root: str, rel: str, data: bytes, mode: int = 0o644) -> None:
    path = os.path.join(root, *rel.split('/'))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)


def make_fake_tree(root: str, mm_data: bool = True, kunit_py: bool = True,
                   kconfig: bytes = IOMMU_KCONFIG,
                   makefile: bytes = IOMMU_MAKEFILE) -> str:
    """The smallest directory that passes kernel_tree.validate_tree()."""
    write(root, 'Makefile', b'VERSION = 6\nPATCHLEVEL = 12\n')
    write(root, 'Kconfig', b'source "drivers/Kconfig"\n')
    write(root, 'init/main.c', b'// start_kernel\n')
    write(root, 'drivers/iommu/iommu.c', b'// core\n')
    write(root, 'drivers/iommu/Kconfig', kconfig)
    write(root, 'drivers/iommu/Makefile', makefile, 0o640)
    write(root, 'drivers/iommu/iommu-sva.c', b'// sva\n')
    write(root, 'include/linux/iommu.h', IOMMU_H_NEW if mm_data
          else IOMMU_H_OLD)
    write(root, 'drivers/iommu/iommu-priv.h', IOMMU_PRIV_H)
    write(root, 'include/kunit/test.h', KUNIT_TEST_H)
    write(root, 'kernel/fork.c', FORK_C)
    if kunit_py:
        write(root, 'tools/testing/kunit/kunit.py',
              b'#!/usr/bin/env python3\n', 0o755)
    return root


def make_fake_repo(root: str,
                   files: Optional[Mapping[str, bytes]] = None) -> str:
    """A repository whose drivers/ and tools/ hold a small payload."""
    for rel, data in (DEFAULT_PAYLOAD if files is None else files).items():
        write(root, rel, data)
    return root


Snapshot = Dict[str, Tuple[str, int, bytes]]


def snapshot(root: str) -> Snapshot:
    """Every path under root with its type, permission bits and bytes
    (a symlink's target, not followed)."""
    snap: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISDIR(st.st_mode):
                snap[rel] = ('dir', stat.S_IMODE(st.st_mode), b'')
            elif stat.S_ISLNK(st.st_mode):
                snap[rel] = ('link', 0, os.readlink(path).encode())
            else:
                with open(path, 'rb') as f:
                    snap[rel] = ('file', stat.S_IMODE(st.st_mode), f.read())
    return snap


# A stand-in for tools/testing/kunit/kunit.py: it prints kunit.py's stage
# lines and writes test.log/--json as told by the JSON file named in
# $FAKE_KUNIT_CONTROL, and records its argv, $CCACHE_DIR and $PATH there
# too.
# control['when'] is a list of {"file", "contains", "then"} (and an
# optional "lacks"): if the tree's file holds that text (and not the
# other), the "then" keys override the control (how tests make a mutant
# fail); {"arg", "then"} does the same when a --kernel_args= is that arg
# (how a switched mutant of the schemata fails).  control['calls'] is a
# list whose k-th dict overrides the control for the k-th call (0-based),
# after 'when'.
# control['hang'] = 'build' or 'run' sleeps there, after writing test.log
# for 'run' (a deadlocked kernel).  `config`, `build` and `exec` do only
# their stage, as kunit.py's do; `run` does all three.
FAKE_KUNIT_PY = r'''#!/usr/bin/env python3
import json, os, sys
control_path = os.environ['FAKE_KUNIT_CONTROL']
with open(control_path) as f:
    control = json.load(f)
args = sys.argv[1:]
opts = dict(a[2:].split('=', 1) for a in args
            if a.startswith('--') and '=' in a)
try:
    with open(control_path + '.calls') as f:
        call_index = len(f.readlines())
except FileNotFoundError:
    call_index = 0
with open(control_path + '.calls', 'a') as f:
    f.write(json.dumps({'argv': args, 'cwd': os.getcwd(),
                        'ccache_dir': os.environ.get('CCACHE_DIR'),
                        'path': os.environ.get('PATH')}) + '\n')
for rule in control.get('when', []):
    if 'arg' in rule:
        if '--kernel_args=' + rule['arg'] in args:
            control.update(rule['then'])
        continue
    with open(rule['file'], encoding='utf-8', errors='replace') as f:
        text = f.read()
    if rule['contains'] in text and rule.get('lacks', '\0') not in text:
        control.update(rule['then'])
if call_index < len(control.get('calls', [])):
    control.update(control['calls'][call_index])
def hang():
    import time
    time.sleep(60)
if args[0] in ('run', 'config'):
    print('[12:00:00] Configuring KUnit Kernel ...')
    if control.get('fail') == 'config':
        sys.exit(1)
if args[0] in ('run', 'build'):
    print('[12:00:01] Building KUnit Kernel ...')
    if control.get('fail') == 'build':
        print('ERROR:root:drivers/iommu/iommu-sva-test.c:1: error')
        sys.exit(1)
    if control.get('hang') == 'build':
        hang()
if args[0] in ('config', 'build'):
    sys.exit(0)
if control.get('fail') == 'exec':
    print('[Errno 2] No such file or directory: linux')
    sys.exit(1)
print('[12:00:02] Starting KUnit Kernel (1/1)...')
with open(os.path.join(opts['build_dir'], 'test.log'), 'w') as f:
    f.write(control['log'])
if control.get('hang') == 'run':
    hang()
if 'json' in opts and control.get('json') is not None:
    with open(opts['json'], 'w') as f:
        json.dump(control['json'], f)
sys.exit(control.get('rc', 0))
'''

PASSING_LOG = (
    'Linux version 6.12.117\n'
    '------------[ cut here ]------------\n'
    'No virtio device ID configured for PCI - no PCI support\n'
    'WARNING: CPU: 0 PID: 1 at arch/um/drivers/virt-pci.c:616 '
    'virtio_pcidev_init+0x60/0x80\n'
    '---[ end trace 0000000000000000 ]---\n'
    'KTAP version 1\n1..1\n'
    '    KTAP version 1\n    # Subtest: iommu_sva\n    1..2\n'
    '    ok 1 iommu_sva_bind\n'
    '    ok 2 iommu_sva_unbind\n'
    'ok 1 iommu_sva\n')

KASAN_IN_TEST_LOG = PASSING_LOG.replace(
    '    ok 2 iommu_sva_unbind\n',
    'BUG: KASAN: slab-use-after-free in fake_iommu_unbind+0x1/0x2\n'
    '    ok 2 iommu_sva_unbind\n')

FAILING_LOG = PASSING_LOG.replace('    ok 2 iommu_sva_unbind\n',
                                  '    not ok 2 iommu_sva_unbind\n').replace(
    'ok 1 iommu_sva\n', 'not ok 1 iommu_sva\n')


def install_fake_kunit(tree: str) -> None:
    write(tree, 'tools/testing/kunit/kunit.py', FAKE_KUNIT_PY.encode(),
          0o755)


class FakeTreeTestCase(unittest.TestCase):
    """A fake kernel tree and a fake repository, and what the tree held
    before the test touched it."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.tree = make_fake_tree(os.path.join(self._tmp.name, 'linux'))
        self.repo = make_fake_repo(os.path.join(self._tmp.name, 'repo'))
        self.before = snapshot(self.tree)

    def payload(self) -> Dict[str, PayloadFile]:
        return collect_payload(self.repo)


GIT_USER = ('-c', 'user.name=t', '-c', 'user.email=t@example.invalid',
            '-c', 'commit.gpgsign=false')


def git(tree: str, *args: str) -> str:
    """Run git in tree as a throwaway user; its stdout."""
    return subprocess.run(['git', *GIT_USER, *args], cwd=tree, check=True,
                          capture_output=True, text=True).stdout
