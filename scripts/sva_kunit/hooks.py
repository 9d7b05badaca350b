"""The lines the suite adds to existing kernel files, and how to undo them.

All functions here are pure (bytes in, bytes out) so the installer can
plan every change, and check every precondition, before writing.
"""

from dataclasses import dataclass
from typing import List, Tuple

BEFORE_LAST_ANCHOR = 'before-last-anchor'
APPEND = 'append'


@dataclass(frozen=True)
class Hook:
    path: str               # tree-relative, '/'-separated
    lines: Tuple[str, ...]  # without newlines
    placement: str          # BEFORE_LAST_ANCHOR or APPEND
    anchor: str = ''        # the line to insert before (BEFORE_LAST_ANCHOR)


# The single table of edits to existing kernel files.  The Kconfig source
# must sit inside the "if IOMMU_SUPPORT" block, hence before its endif.
HOOKS: Tuple[Hook, ...] = (
    Hook(path='drivers/iommu/Kconfig',
         lines=('source "drivers/iommu/fake-iommu/Kconfig"',),
         placement=BEFORE_LAST_ANCHOR,
         anchor='endif # IOMMU_SUPPORT'),
    Hook(path='drivers/iommu/Makefile',
         lines=('obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/',
                'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o'),
         placement=APPEND),
)


class AnchorMissing(Exception):
    pass


class HookMismatch(Exception):
    """The installed file no longer has the hook where we put it."""


def _lines(content: bytes) -> List[bytes]:
    return content.splitlines(keepends=True)


def _block(hook: Hook) -> List[bytes]:
    return [(line + '\n').encode() for line in hook.lines]


def _last_anchor_index(lines: List[bytes], anchor: str) -> int:
    want = anchor.encode()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].rstrip() == want:
            return i
    raise AnchorMissing(anchor)


def present_lines(hook: Hook, content: bytes) -> List[str]:
    """Hook lines already in the file (someone else's, if not recorded)."""
    existing = {line.rstrip() for line in _lines(content)}
    return [h for h in hook.lines if h.encode() in existing]


def check_anchor(hook: Hook, content: bytes) -> None:
    if hook.placement == BEFORE_LAST_ANCHOR:
        _last_anchor_index(_lines(content), hook.anchor)


def apply_hook(hook: Hook, content: bytes) -> Tuple[bytes, bool]:
    """Return (new content, whether a missing final newline was added)."""
    lines = _lines(content)
    if hook.placement == BEFORE_LAST_ANCHOR:
        at = _last_anchor_index(lines, hook.anchor)
        return b''.join(lines[:at] + _block(hook) + lines[at:]), False
    added_newline = bool(content) and not content.endswith(b'\n')
    prefix = content + (b'\n' if added_newline else b'')
    return prefix + b''.join(_block(hook)), added_newline


def remove_hook(hook: Hook, content: bytes, added_newline: bool) -> bytes:
    """Inverse of apply_hook on the content apply_hook produced."""
    lines = _lines(content)
    block = _block(hook)
    if hook.placement == BEFORE_LAST_ANCHOR:
        try:
            at = _last_anchor_index(lines, hook.anchor)
        except AnchorMissing:
            raise HookMismatch(hook.path) from None
        start = at - len(block)
        if start < 0 or lines[start:at] != block:
            raise HookMismatch(hook.path)
        return b''.join(lines[:start] + lines[at:])
    tail = b''.join(block)
    if not content.endswith(tail):
        raise HookMismatch(hook.path)
    original = content[:len(content) - len(tail)]
    if added_newline:
        original = original[:-1]
    return original
