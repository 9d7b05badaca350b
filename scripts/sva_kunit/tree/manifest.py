"""The record, kept in the tree, of what sva-kunit put there: without it
uninstall could not tell our files from the user's, nor a re-install a
stale suite file from someone's edit."""

import hashlib
import json
import os
from typing import Any, Dict, List, Optional

from ..errors import SetupError
from .fs_journal import read_bytes, tree_path
from .hooks import APPEND, BEFORE_LAST_ANCHOR

MANIFEST_NAME = '.sva-kunit-manifest'
FORMAT_VERSION = 1

# The JSON document: {'format', 'tool', 'files': {path: _FILE}, 'dirs'
# (created by us), 'hooks': {path: _HOOK}}.  Placement and anchor are kept
# so that uninstall works after the table in hooks.py has changed.
Manifest = Dict[str, Any]
_TOP = {'format': int, 'files': dict, 'dirs': list, 'hooks': dict}
_FILE = {'sha256': str, 'mode': str}
_HOOK = {'lines': list, 'original_sha256': str, 'installed_sha256': str,
         'placement': str, 'anchor': str, 'added_newline': bool}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_path(tree: str) -> str:
    return os.path.join(tree, MANIFEST_NAME)


def new_manifest() -> Manifest:
    return {'format': FORMAT_VERSION, 'tool': 'sva-kunit', 'files': {},
            'dirs': [], 'hooks': {}}


def check_shape(record: Any, shape: Dict[str, type], where: str) -> None:
    if not isinstance(record, dict):
        raise ValueError(f'{where}: not a JSON object')
    for key, kind in shape.items():
        if not isinstance(record.get(key), kind):
            raise ValueError(f'{where}: "{key}" missing or not a '
                             f'{kind.__name__}')


def _strings(values: List[Any], where: str) -> None:
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f'{where}: not a list of strings')


def _parse(tree: str, text: str) -> Manifest:
    """The manifest, every field's type checked: a user or a crash could
    have mangled it (ValueError if so)."""
    doc = json.loads(text)
    check_shape(doc, _TOP, 'the manifest')
    if doc['format'] != FORMAT_VERSION:
        raise ValueError(f'unknown manifest format {doc["format"]}')
    _strings(doc['dirs'], 'dirs')
    for rel, rec in doc['files'].items():
        check_shape(rec, _FILE, rel)
        if not 0 <= int(rec['mode'], 8) <= 0o7777:
            raise ValueError(f'{rel}: mode {rec["mode"]} out of range')
    for rel, rec in doc['hooks'].items():
        if isinstance(rec, dict):  # older manifests lack these two
            rec.setdefault('anchor', '')
            rec.setdefault('added_newline', False)
        check_shape(rec, _HOOK, rel)
        _strings(rec['lines'], rel)
        if rec['placement'] not in (APPEND, BEFORE_LAST_ANCHOR):
            raise ValueError(f'{rel}: unknown placement '
                             f'{rec["placement"]!r}')
    for rel in [*doc['files'], *doc['dirs'], *doc['hooks']]:
        tree_path(tree, rel)
    return doc


def load_manifest(tree: str) -> Optional[Manifest]:
    """The tree's manifest, None when sva-kunit never installed there."""
    path = manifest_path(tree)
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return _parse(tree, data.decode('utf-8'))
    except ValueError as e:
        raise SetupError(f'{path} is unreadable ({e})',
                         'restore the tree by hand (e.g. git checkout) and '
                         'delete that file') from None
