"""The record, kept inside the tree, of what sva-kunit put there.

Without it, uninstall could not tell our files from the user's, and a
re-install could not tell a stale suite file from someone's edit.
"""

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..errors import SetupError
from .fs_journal import read_bytes, tree_path
from .hooks import APPEND, BEFORE_LAST_ANCHOR

MANIFEST_NAME = '.sva-kunit-manifest'
FORMAT_VERSION = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FileRecord:
    sha256: str
    mode: int


@dataclass
class HookRecord:
    lines: List[str]
    original_sha256: str
    installed_sha256: str
    # Placement and anchor are kept so uninstall works even after the
    # hook table in hooks.py has changed.
    placement: str
    anchor: str = ''
    added_newline: bool = False


@dataclass
class Manifest:
    files: Dict[str, FileRecord] = field(default_factory=dict)
    dirs: List[str] = field(default_factory=list)  # created by us
    hooks: Dict[str, HookRecord] = field(default_factory=dict)

    def paths(self) -> List[str]:
        """Every tree-relative path the manifest names."""
        return [*self.files, *self.dirs, *self.hooks]

    def is_empty(self) -> bool:
        return not (self.files or self.dirs or self.hooks)

    def to_json(self) -> str:
        doc = {
            'format': FORMAT_VERSION,
            'tool': 'sva-kunit',
            'files': {p: {'sha256': r.sha256, 'mode': oct(r.mode)}
                      for p, r in sorted(self.files.items())},
            'dirs': sorted(self.dirs),
            'hooks': {p: {'lines': r.lines,
                          'original_sha256': r.original_sha256,
                          'installed_sha256': r.installed_sha256,
                          'placement': r.placement,
                          'anchor': r.anchor,
                          'added_newline': r.added_newline}
                      for p, r in sorted(self.hooks.items())},
        }
        return json.dumps(doc, indent=2) + '\n'

    @classmethod
    def from_json(cls, text: str) -> 'Manifest':
        """Parse, checking every field's type: the file is data a user or
        a crash could have mangled (ValueError/KeyError if so)."""
        doc = json.loads(text)
        if _field(doc, 'format', int, 'the manifest') != FORMAT_VERSION:
            raise ValueError(f'unknown manifest format {doc["format"]}')
        hooks = {}
        for p, r in _field(doc, 'hooks', dict, 'the manifest').items():
            placement = _field(r, 'placement', str, p)
            if placement not in (APPEND, BEFORE_LAST_ANCHOR):
                raise ValueError(f'{p}: unknown placement {placement!r}')
            hooks[p] = HookRecord(
                _strings(_field(r, 'lines', list, p), p),
                _field(r, 'original_sha256', str, p),
                _field(r, 'installed_sha256', str, p), placement,
                _field(r, 'anchor', str, p, ''),
                _field(r, 'added_newline', bool, p, False))
        return cls(
            files={p: FileRecord(_field(r, 'sha256', str, p),
                                 _mode(_field(r, 'mode', str, p), p))
                   for p, r in _field(doc, 'files', dict,
                                      'the manifest').items()},
            dirs=_strings(_field(doc, 'dirs', list, 'the manifest'),
                          'dirs'),
            hooks=hooks)


_REQUIRED = object()


def _field(record: Any, key: str, kind: type, where: str,
           default: Any = _REQUIRED) -> Any:
    if not isinstance(record, dict):
        raise ValueError(f'{where}: not a JSON object')
    value = record.get(key, default)
    if value is _REQUIRED or not isinstance(value, kind):
        raise ValueError(f'{where}: "{key}" missing or not a {kind.__name__}')
    return value


def _strings(values: List[Any], where: str) -> List[str]:
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f'{where}: not a list of strings')
    return list(values)


def _mode(text: str, where: str) -> int:
    mode = int(text, 8)
    if not 0 <= mode <= 0o7777:
        raise ValueError(f'{where}: mode {text} out of range')
    return mode


def manifest_path(tree: str) -> str:
    return os.path.join(tree, MANIFEST_NAME)


def load_manifest(tree: str) -> Optional[Manifest]:
    """The tree's manifest, None when sva-kunit never installed there."""
    path = manifest_path(tree)
    data = read_bytes(path)
    if data is None:
        return None
    try:
        manifest = Manifest.from_json(data.decode('utf-8'))
        for rel in manifest.paths():
            tree_path(tree, rel)
        return manifest
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SetupError(f'{path} is unreadable ({e})',
                         'restore the tree by hand (e.g. git checkout) and '
                         'delete that file') from None
