"""The record, kept inside the tree, of what sva-kunit put there.

Without it, uninstall could not tell our files from the user's, and a
re-install could not tell a stale suite file from someone's edit.
"""

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .errors import SetupError
from .fs_journal import tree_path

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
        doc = json.loads(text)
        if doc.get('format') != FORMAT_VERSION:
            raise ValueError(f'unknown manifest format {doc.get("format")}')
        return cls(
            files={p: FileRecord(r['sha256'], int(r['mode'], 8))
                   for p, r in doc['files'].items()},
            dirs=list(doc['dirs']),
            hooks={p: HookRecord(list(r['lines']), r['original_sha256'],
                                 r['installed_sha256'], r['placement'],
                                 r.get('anchor', ''),
                                 bool(r.get('added_newline', False)))
                   for p, r in doc['hooks'].items()})


def manifest_path(tree: str) -> str:
    return os.path.join(tree, MANIFEST_NAME)


def load_manifest(tree: str) -> Optional[Manifest]:
    """The tree's manifest, None when sva-kunit never installed there."""
    path = manifest_path(tree)
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        manifest = Manifest.from_json(text)
        for rel in manifest.paths():
            tree_path(tree, rel)
        return manifest
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SetupError(f'{path} is unreadable ({e})',
                         'restore the tree by hand (e.g. git checkout) and '
                         'delete that file') from None
