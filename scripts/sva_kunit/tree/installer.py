"""Install, sync and uninstall the payload and hook lines in a kernel tree.

Work happens in two phases.  plan_sync() reads the tree and the manifest
and either raises SetupError (foreign file in the way, file modified since
install, missing anchor, ...) or returns the complete list of actions.
apply_plan() then performs them through a Journal and rolls everything
back if one fails, so the tree is never left half-changed.

Uninstall is a sync to an empty payload with no hooks: the same checks
and the same rollback apply, and the tree ends up byte-for-byte as it was
before the first install.  A kill halfway (even SIGKILL) is undone by
the next command through install_journal.py.
"""

import os
from dataclasses import dataclass, field
from typing import Iterable, List, Mapping, Optional, Sequence, Set, TextIO

from ..errors import SetupError
from . import hooks as hooks_mod
from . import install_journal
from .fs_journal import Journal, read_file
from .hooks import AnchorMissing, Hook, HookMismatch
from .manifest import (MANIFEST_NAME, FileRecord, HookRecord, Manifest,
                       load_manifest, sha256)
from .payload import PayloadFile

MKDIR, WRITE, HOOK, REMOVE, UNHOOK, RMDIR, MANIFEST = (
    'mkdir', 'write', 'hook', 'remove', 'unhook', 'rmdir', 'manifest')

_VERBS = {
    MKDIR: ('create directory', 'created directory'),
    WRITE: ('write', 'wrote'),
    HOOK: ('add hook lines to', 'added hook lines to'),
    REMOVE: ('remove', 'removed'),
    UNHOOK: ('remove hook lines from', 'removed hook lines from'),
    RMDIR: ('remove directory', 'removed directory'),
    MANIFEST: ('update', 'updated'),
}

RESTORE_BY_HAND = ('restore the tree by hand (e.g. git checkout) and delete '
                   + MANIFEST_NAME)


@dataclass
class Action:
    kind: str
    path: str                   # tree-relative, '/'-separated
    data: Optional[bytes] = None  # new content for WRITE/HOOK/UNHOOK/MANIFEST
    mode: int = 0o644

    def describe(self, done: bool) -> str:
        verb = _VERBS[self.kind][1 if done else 0]
        if self.kind == MANIFEST and self.data is None:
            verb = 'removed' if done else 'remove'
        return f'{verb} {self.path}'


@dataclass
class Plan:
    tree: str
    actions: List[Action] = field(default_factory=list)

    def changes(self) -> bool:
        return bool(self.actions)

    def payload_actions(self) -> List[Action]:
        """Everything but the manifest bookkeeping, for user messages."""
        return [a for a in self.actions if a.kind != MANIFEST]


def _abs(tree: str, rel: str) -> str:
    return os.path.join(tree, *rel.split('/'))


def _parents(rel: str) -> List[str]:
    """'a/b/c.txt' -> ['a', 'a/b'] (shallowest first)."""
    parts = rel.split('/')[:-1]
    return ['/'.join(parts[:i]) for i in range(1, len(parts) + 1)]


def _modified_error(tree: str, rel: str, what: str) -> SetupError:
    return SetupError(f'{_abs(tree, rel)} was modified after sva-kunit '
                      f'{what}', 'undo that change, or ' + RESTORE_BY_HAND)


def _check_recorded_files(tree: str, manifest: Manifest) -> None:
    for rel, rec in sorted(manifest.files.items()):
        current = read_file(_abs(tree, rel))
        # A deleted file loses nothing; only silent edits would be lost.
        if current is not None and sha256(current[0]) != rec.sha256:
            raise _modified_error(tree, rel, 'installed it')


def _check_foreign_files(tree: str, payload: Mapping[str, PayloadFile],
                         manifest: Manifest) -> None:
    for rel in sorted(payload):
        for parent in _parents(rel):
            path = _abs(tree, parent)
            if os.path.lexists(path) and not os.path.isdir(path):
                raise SetupError(f'{path} is in the way of the directory '
                                 'sva-kunit needs there',
                                 'move it away or use a clean tree')
        if rel in manifest.files:
            continue
        path = _abs(tree, rel)
        if os.path.lexists(path):
            raise SetupError(f'{path} already exists and was not installed '
                             'by sva-kunit', 'move it away or use a clean '
                             'tree')


def _hook_from_record(rel: str, rec: HookRecord) -> Hook:
    return Hook(path=rel, lines=tuple(rec.lines), placement=rec.placement,
                anchor=rec.anchor)


def _plan_hooks(tree: str, hook_table: Sequence[Hook], manifest: Manifest,
                new: Manifest, actions: List[Action]) -> None:
    wanted = {h.path: h for h in hook_table}
    for rel in sorted(set(wanted) | set(manifest.hooks)):
        path = _abs(tree, rel)
        current = read_file(path)
        rec = manifest.hooks.get(rel)
        hook = wanted.get(rel)
        if current is None:
            raise SetupError(f'{path} does not exist', 'sva-kunit hooks into '
                             'it; use a complete v6.11 or later kernel tree'
                             if rec is None else RESTORE_BY_HAND)
        content, mode = current
        original = content
        if rec is not None:
            # Other edits to the file are the user's and stay; only our
            # own lines must be there as we added them.
            old_hook = _hook_from_record(rel, rec)
            try:
                original = hooks_mod.remove_hook(old_hook, content,
                                                 rec.added_newline)
            except HookMismatch as e:
                raise SetupError(f'{path} was modified after sva-kunit added '
                                 f'its hook lines ({e})', 'put that line '
                                 'back as it was, or ' + RESTORE_BY_HAND
                                 ) from None
            if hook == old_hook:
                new.hooks[rel] = rec
                continue
        if hook is None:
            actions.append(Action(UNHOOK, rel, original, mode))
            continue
        foreign = hooks_mod.present_lines(hook, original)
        if foreign:
            raise SetupError(f'{path} already has the line {foreign[0]!r} '
                             'but sva-kunit did not add it',
                             'remove that line or use a clean tree')
        try:
            installed, added_newline = hooks_mod.apply_hook(hook, original)
        except AnchorMissing:
            raise SetupError(f'{path} has no line {hook.anchor!r} to add '
                             'the sva-kunit hook before',
                             'use an unmodified v6.11 or later kernel tree'
                             ) from None
        new.hooks[rel] = HookRecord(list(hook.lines),
                                    rec.original_sha256 if rec
                                    else sha256(original),
                                    sha256(installed), hook.placement,
                                    hook.anchor, added_newline)
        actions.append(Action(HOOK, rel, installed, mode))


def _plan_dirs(tree: str, payload: Mapping[str, PayloadFile],
               manifest: Manifest, new: Manifest, removed: Set[str],
               actions: List[Action]) -> List[Action]:
    """Directory creation now (appended), removals returned for the end."""
    needed: List[str] = []
    for rel in sorted(payload):
        for parent in _parents(rel):
            if parent not in needed:
                needed.append(parent)
    ours = set(manifest.dirs)
    for rel in needed:  # shallowest first, so parents exist before children
        exists = os.path.isdir(_abs(tree, rel))
        if not exists:
            actions.append(Action(MKDIR, rel))
        if rel in ours or not exists:
            new.dirs.append(rel)
    rmdirs: List[Action] = []
    gone = set(removed)
    for rel in sorted(ours - set(needed), key=lambda d: -d.count('/')):
        path = _abs(tree, rel)
        if not os.path.isdir(path):
            continue
        leftovers = sorted(name for name in os.listdir(path)
                           if f'{rel}/{name}' not in gone)
        if leftovers:
            raise SetupError(f'{path}, created by sva-kunit, holds files it '
                             f'did not install ({", ".join(leftovers)})',
                             'move them away and rerun')
        gone.add(rel)
        rmdirs.append(Action(RMDIR, rel))
    return rmdirs


def plan_sync(tree: str, payload: Mapping[str, PayloadFile],
              hook_table: Sequence[Hook] = hooks_mod.HOOKS,
              manifest: Optional[Manifest] = None) -> Plan:
    """Every action needed to make the tree hold exactly this payload.

    Raises SetupError, before anything is changed, when the tree is not
    ours to change.  Pass the manifest only to avoid re-reading it.
    """
    if manifest is None:
        manifest = load_manifest(tree) or Manifest()
    _check_recorded_files(tree, manifest)
    _check_foreign_files(tree, payload, manifest)

    new = Manifest()
    plan = Plan(tree)
    hook_actions: List[Action] = []
    _plan_hooks(tree, hook_table, manifest, new, hook_actions)
    stale = sorted(set(manifest.files) - set(payload))
    removed = {rel for rel in stale if os.path.lexists(_abs(tree, rel))}
    rmdirs = _plan_dirs(tree, payload, manifest, new, removed, plan.actions)

    for rel, item in sorted(payload.items()):
        new.files[rel] = FileRecord(sha256(item.data), item.mode)
        current = read_file(_abs(tree, rel))
        # Rewriting an unchanged file would bump its mtime and make the
        # next kernel build recompile it, so only touch real differences.
        if current != (item.data, item.mode):
            plan.actions.append(Action(WRITE, rel, item.data, item.mode))
    plan.actions.extend(a for a in hook_actions if a.kind == HOOK)
    plan.actions.extend(Action(REMOVE, rel) for rel in sorted(removed))
    plan.actions.extend(a for a in hook_actions if a.kind == UNHOOK)
    plan.actions.extend(rmdirs)

    # The manifest goes last: if anything before it fails, the old one is
    # still accurate after rollback.
    data = None if new.is_empty() else new.to_json().encode()
    on_disk = read_file(_abs(tree, MANIFEST_NAME))
    if (on_disk[0] if on_disk else None) != data:
        plan.actions.append(Action(MANIFEST, MANIFEST_NAME, data))
    return plan


def plan_uninstall(tree: str) -> Plan:
    return plan_sync(tree, {}, ())


def _perform(journal: Journal, tree: str, action: Action) -> None:
    path = _abs(tree, action.path)
    if action.kind == MKDIR:
        journal.make_dir(path)
    elif action.kind in (WRITE, HOOK, UNHOOK):
        assert action.data is not None
        journal.write_file(path, action.data, action.mode)
    elif action.kind == REMOVE:
        journal.remove_file(path)
    elif action.kind == RMDIR:
        journal.remove_dir(path)
    elif action.kind == MANIFEST:
        if action.data is None:
            journal.remove_file(path)
        else:
            journal.write_file(path, action.data, 0o644)
    else:
        raise ValueError(action.kind)


def _change(action: Action) -> install_journal.Change:
    """What the action makes of its path, for the install journal."""
    if action.kind == MKDIR:
        return action.path, install_journal.DIR, ''
    if action.data is None:
        return action.path, install_journal.ABSENT, ''
    return action.path, install_journal.FILE, sha256(action.data)


def apply_plan(plan: Plan) -> None:
    """Perform the plan, or roll it back (also on Ctrl-C); if even that
    is cut short, the journal lets the next command finish the job."""
    if not plan.actions:
        return
    try:
        install_journal.begin(plan.tree, [_change(a) for a in plan.actions])
    except ValueError as e:  # a path of ours leads out through a symlink
        raise SetupError(f'{plan.tree}: {e}; nothing was changed',
                         'use a tree without such symlinks') from None
    except OSError as e:
        path = install_journal.journal_path(plan.tree)
        raise SetupError(f'cannot write {path} ({e.strerror}); nothing was '
                         'changed', 'fix that and rerun') from None
    journal = Journal()
    current = None
    try:
        for current in plan.actions:
            _perform(journal, plan.tree, current)
    except BaseException as e:
        what = current.describe(done=False) if current else 'start'
        try:
            journal.rollback()
        except OSError as undo_error:
            raise SetupError(f'changing {plan.tree} failed at "{what}" '
                             f'({e}) and rolling back failed too '
                             f'({undo_error})', 'fix that and rerun install '
                             'or uninstall, which undo the rest, or '
                             + RESTORE_BY_HAND) from e
        journal.sync()
        install_journal.finish(plan.tree)
        if not isinstance(e, Exception):
            raise
        raise SetupError(f'changing {plan.tree} failed at "{what}" ({e}); '
                         'the tree was restored to how it was',
                         'fix the cause and rerun') from e
    journal.sync()
    install_journal.finish(plan.tree)


def describe(plan: Plan, dry_run: bool) -> Iterable[str]:
    for action in plan.payload_actions():
        yield ('would ' if dry_run else '') + action.describe(
            done=not dry_run)



def repair(tree: str, out: Optional[TextIO] = None,
           dry_run: bool = False) -> None:
    """Undo an install or uninstall that was killed halfway."""
    if not dry_run:
        install_journal.repair(tree, out)
    elif install_journal.load(tree) is not None:
        raise SetupError(f'{install_journal.journal_path(tree)} records an '
                         'interrupted install or uninstall, so a dry run '
                         'cannot tell what would change', 'rerun without '
                         '--dry-run, which first undoes that change')


def sync(tree: str, payload: Mapping[str, PayloadFile],
         dry_run: bool = False,
         hook_table: Sequence[Hook] = hooks_mod.HOOKS,
         out: Optional[TextIO] = None) -> Plan:
    """Install or update the payload; with dry_run, only plan it."""
    repair(tree, out, dry_run)
    plan = plan_sync(tree, payload, hook_table)
    if not dry_run:
        apply_plan(plan)
    return plan


def uninstall(tree: str, dry_run: bool = False,
              out: Optional[TextIO] = None) -> Plan:
    repair(tree, out, dry_run)
    plan = plan_uninstall(tree)
    if not dry_run:
        apply_plan(plan)
    return plan
