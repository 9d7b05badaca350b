"""The lines the suite adds to existing kernel files, and how to take them
out again: pure functions, so the installer can check everything before
it writes."""

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
         # Link order is suite order: iommu_sva_leak (in iommu-sva-test.o)
         # must run last, after the model suite too. The tests get the
         # same FAKE_IOMMU_* API flags as the fake driver, from compat.mk.
         lines=('obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/',
                'include $(srctree)/drivers/iommu/fake-iommu/compat.mk',
                'CFLAGS_iommu-sva-model-test.o += $(fake_iommu_compat_flags)',
                'CFLAGS_iommu-sva-test.o += $(fake_iommu_compat_flags)',
                'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-model-test.o',
                'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o'),
         placement=APPEND),
)


class AnchorMissing(Exception):
    pass


class HookMismatch(Exception):
    """The installed file no longer has the hook where we put it."""


def _block(hook: Hook) -> List[bytes]:
    return [(line + '\n').encode() for line in hook.lines]


def present_lines(hook: Hook, content: bytes) -> List[str]:
    """Hook lines already in the file (someone else's, if not recorded)."""
    existing = {line.rstrip() for line in content.splitlines()}
    return [h for h in hook.lines if h.encode() in existing]


def apply_hook(hook: Hook, content: bytes) -> Tuple[bytes, bool]:
    """Return (new content, whether a missing final newline was added)."""
    if hook.placement == BEFORE_LAST_ANCHOR:
        lines = content.splitlines(keepends=True)
        anchors = [i for i, line in enumerate(lines)
                   if line.rstrip() == hook.anchor.encode()]
        if not anchors:
            raise AnchorMissing(hook.anchor)
        at = anchors[-1]
        return b''.join(lines[:at] + _block(hook) + lines[at:]), False
    added_newline = bool(content) and not content.endswith(b'\n')
    prefix = content + (b'\n' if added_newline else b'')
    return prefix + b''.join(_block(hook)), added_newline


def _find(lines: List[bytes], wanted: List[bytes]) -> List[int]:
    """Where the consecutive lines `wanted` start (line ends ignored)."""
    text = [line.rstrip(b'\n') for line in lines]
    n = len(wanted)
    return [i for i in range(len(text) - n + 1) if text[i:i + n] == wanted]


def remove_hook(hook: Hook, content: bytes, added_newline: bool) -> bytes:
    """Take exactly the hook's lines out of content, keeping everything
    else, also lines someone added or changed since apply_hook, of which
    it is the inverse, byte for byte.

    HookMismatch if a hook line is missing (removed, or edited), or
    appears twice and the block cannot say which copy is ours.
    """
    lines = content.splitlines(keepends=True)
    wanted = [line.encode() for line in hook.lines]
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
                raise HookMismatch(f'its line {line.decode()!r} {how}')
            ours.add(found[0])
    kept = b''.join(line for i, line in enumerate(lines) if i not in ours)
    # The newline added to a last line that had none belongs to us, unless
    # lines now follow it.
    at_end = bool(ours) and set(range(min(ours), len(lines))) <= ours
    if added_newline and at_end and kept.endswith(b'\n'):
        kept = kept[:-1]
    return kept
