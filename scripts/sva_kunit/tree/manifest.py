"""The hook lines the suite adds to kernel files, and the manifest of all
that sva-kunit put in a tree: how uninstall tells our files from yours."""

import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import SetupError
from .fs_journal import (HOOKED, INSTALLED, MANIFEST_NAME, check_shape,
                         read_json, tree_path)


@dataclass(frozen=True)
class Hook:
    path: str               # tree-relative, '/'-separated
    lines: Tuple[str, ...]  # without newlines
    anchor: str = ''        # inserted before its last copy; '' appends


# The single table of edits to existing kernel files.  The Kconfig source
# must sit inside the "if IOMMU_SUPPORT" block, hence before its endif.
HOOKS: Tuple[Hook, ...] = (
    Hook(path='drivers/iommu/Kconfig',
         lines=('source "drivers/iommu/fake-iommu/Kconfig"',),
         anchor='endif # IOMMU_SUPPORT'),
    Hook(path='drivers/iommu/Makefile',
         # Link order is suite order: iommu_sva_leak must run last, the
         # model's slow cases just before it. The tests get the same
         # FAKE_IOMMU_* API flags as the fake driver, from compat.mk.
         lines=('obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/',
                'include $(srctree)/drivers/iommu/fake-iommu/compat.mk',
                'CFLAGS_iommu-sva-model-test.o += $(fake_iommu_compat_flags)',
                'CFLAGS_iommu-sva-test.o += $(fake_iommu_compat_flags)',
                'CFLAGS_iommu-sva-leak-test.o += $(fake_iommu_compat_flags)',
                'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o',
                'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-model-test.o',
                'obj-$(CONFIG_IOMMU_SVA_KUNIT_LEAK_TEST) += '
                'iommu-sva-leak-test.o')),
)


def apply_hook(hook: Hook, content: bytes) -> Tuple[bytes, bool]:
    """Return (new content, whether a missing final newline was added)."""
    added_newline = (not hook.anchor and bool(content)
                     and not content.endswith(b'\n'))
    lines = (content + b'\n' * added_newline).splitlines(keepends=True)
    at = len(lines)
    if hook.anchor:
        anchors = [i for i, line in enumerate(lines)
                   if line.rstrip() == hook.anchor.encode()]
        if not anchors:
            raise ValueError(f'no line {hook.anchor!r}')
        at = anchors[-1]
    block = [(line + '\n').encode() for line in hook.lines]
    return b''.join(lines[:at] + block + lines[at:]), added_newline


def _find(lines: List[bytes], wanted: List[bytes]) -> List[int]:
    """Where the consecutive lines `wanted` start (line ends ignored)."""
    text = [line.rstrip(b'\n') for line in lines]
    return [i for i in range(len(text)) if text[i:i + len(wanted)] == wanted]


def remove_hook(hook_lines: Sequence[str], content: bytes,
                added_newline: bool) -> bytes:
    """The inverse of apply_hook, byte for byte, that keeps lines someone
    added or changed since; ValueError if a hook line is gone, or
    appears twice and the block cannot say which copy is ours."""
    lines = content.splitlines(keepends=True)
    wanted = [line.encode() for line in hook_lines]
    block = _find(lines, wanted)
    if len(block) == 1:
        ours = set(range(block[0], block[0] + len(wanted)))
    else:
        ours = set()
        for line in wanted:
            found = _find(lines, [line])
            if len(found) != 1:
                how = 'is gone or was changed' if not found else (
                    f'appears {len(found)} times')
                raise ValueError(f'its line {line.decode()!r} {how}')
            ours.add(found[0])
    kept = b''.join(line for i, line in enumerate(lines) if i not in ours)
    # The newline added to a last line that had none belongs to us, unless
    # lines now follow it.
    at_end = bool(ours) and set(range(min(ours), len(lines))) <= ours
    if added_newline and at_end and kept.endswith(b'\n'):
        kept = kept[:-1]
    return kept


# The only hook lines a manifest may have uninstall take out.
HOOK_LINE = re.compile(r'.*(fake-iommu|fake_iommu|FAKE_IOMMU|iommu-sva[\w-]*'
                       r'-test|IOMMU_SVA_KUNIT_TEST).*')

FORMAT_VERSION = 1
MANIFEST_LIMIT = 1 << 20   # a few kB: file names, hashes, hook lines

# The JSON document: {'format', 'tool', 'files': {path: _FILE}, 'dirs'
# (created by us), 'hooks': {path: _HOOK}}.  Every version wrote this
# format; the older ones added keys that are no longer read.
Manifest = Dict[str, Any]
_TOP = {'format': int, 'files': dict, 'dirs': list, 'hooks': dict}
_FILE = {'sha256': str}
_HOOK = {'lines': list, 'added_newline': bool}


def manifest_path(tree: str) -> str:
    return os.path.join(tree, MANIFEST_NAME)


def new_manifest() -> Manifest:
    return {'format': FORMAT_VERSION, 'tool': 'sva-kunit', 'files': {},
            'dirs': [], 'hooks': {}}


def load_manifest(tree: str) -> Optional[Manifest]:
    """The tree's manifest, every field's type checked (a user or a crash
    could have mangled it); None when sva-kunit never installed there."""
    path = manifest_path(tree)
    try:
        doc = read_json(path, MANIFEST_LIMIT)
        if doc is None:
            return None
        check_shape(doc, _TOP, 'the manifest')
        if doc['format'] != FORMAT_VERSION:
            raise ValueError(f'unknown manifest format {doc["format"]}')
        for key, shape in (('files', _FILE), ('hooks', _HOOK)):
            for rel, rec in doc[key].items():
                check_shape(rec, shape, rel)
        for rel in [*doc['files'], *doc['dirs'], *doc['hooks']]:
            tree_path(tree, rel)
        for rel in [*doc['files'], *doc['dirs']]:
            if not INSTALLED.fullmatch(rel):
                raise ValueError(f'{rel}: sva-kunit never installs it')
        for rel, rec in doc['hooks'].items():
            if rel not in HOOKED:
                raise ValueError(f'{rel}: sva-kunit hooks into no such file')
            for line in rec['lines']:
                if not HOOK_LINE.fullmatch(line):
                    raise ValueError(f'{rel}: {line!r} is no line of '
                                     'sva-kunit\'s')
    except ValueError as e:
        raise SetupError(f'{path} is unreadable ({e})',
                         'restore the tree by hand (e.g. git checkout) and '
                         'delete that file') from None
    return doc
