"""Install, sync and uninstall (a sync to nothing): plan_sync() checks
everything before any change, sync() changes under a Journal."""

import json
import os
from dataclasses import dataclass, field
from typing import Iterable, List, Mapping, Optional, Sequence, TextIO

from ..errors import SetupError
from .fs_journal import (ABSENT, DIR, Journal, Mutation, atomic_write,
                         read_bytes, read_file, sha256)
from .manifest import (HOOKS, MANIFEST_NAME, Hook, Manifest, apply_hook,
                       load_manifest, manifest_path, new_manifest,
                       remove_hook)
from .payload import PayloadFile

# An action's kind: what it does, and what it did.
MKDIR = ('create directory', 'created directory')
WRITE = ('write', 'wrote')
HOOK = ('add hook lines to', 'added hook lines to')
REMOVE = ('remove', 'removed')
UNHOOK = ('remove hook lines from', 'removed hook lines from')
RMDIR = ('remove directory', 'removed directory')

class NotInstallable(SetupError):
    """The tree as it is cannot take the suite: a file of the suite in
    the way, a hook file or anchor missing (for bisect-step, a revision
    to skip; any other SetupError says nothing about the revision)."""


RESTORE_BY_HAND = ('restore the tree by hand (e.g. git checkout) and delete '
                   + MANIFEST_NAME)


@dataclass
class Action:
    kind: Sequence[str]
    path: str                     # tree-relative, '/'-separated
    data: Optional[bytes] = None  # the file afterwards (WRITE, HOOK, UNHOOK)
    mode: int = 0o644


@dataclass
class Plan:
    actions: List[Action] = field(default_factory=list)

    def payload_actions(self) -> List[Action]:
        """Everything but the manifest bookkeeping, for user messages."""
        return [a for a in self.actions if a.path != MANIFEST_NAME]


def _edited(tree: str, rel: str) -> str:
    """The tree-relative file that a hook of rel edits: rel, or where it
    leads if it is a symlink (which stays a symlink)."""
    path = os.path.join(tree, rel)
    real, top = os.path.realpath(path), os.path.realpath(tree)
    if not real.startswith(top + os.sep):
        raise SetupError(f'{path} is a symlink out of the tree (to {real})',
                         'sva-kunit changes files inside the tree only: put '
                         'the file itself there')
    return os.path.relpath(real, top).replace(os.sep, '/')


def _check_recorded(tree: str, old: Manifest) -> None:
    """A manifest must describe the tree: lines of ours in a hooked file
    that it does not record would stay behind after uninstall, sourcing
    and building files that are gone."""
    for hook in HOOKS:
        if hook.path in old['hooks']:
            continue
        current = read_file(os.path.join(tree, hook.path))
        lines = {line.rstrip() for line in (current or (b'',))[0]
                 .splitlines()}
        ours = [line for line in hook.lines if line.encode() in lines]
        if ours:
            raise SetupError(f'{manifest_path(tree)} does not record the '
                             f'hook lines in {hook.path}, which holds '
                             f'{ours[0]!r}: it does not describe the tree',
                             RESTORE_BY_HAND)


def _plan_hooks(tree: str, hook_table: Sequence[Hook], old: Manifest,
                new: Manifest) -> List[Action]:
    wanted = {h.path: h for h in hook_table}
    actions = []
    for rel in sorted(set(wanted) | set(old['hooks'])):
        path = os.path.join(tree, rel)
        edited = _edited(tree, rel)
        current = read_file(path)
        rec = old['hooks'].get(rel)
        hook = wanted.get(rel)
        if current is None:
            raise NotInstallable(f'{path} does not exist', 'sva-kunit hooks '
                                 'into it; use a complete v6.11 or later '
                                 'kernel tree' if rec is None
                                 else RESTORE_BY_HAND)
        original, mode = current
        if rec is not None:
            # Other edits to the file are the user's and stay; only our
            # own lines must be there as we added them.
            try:
                original = remove_hook(rec['lines'], original,
                                       rec['added_newline'])
            except ValueError as e:
                raise SetupError(f'{path} was modified after sva-kunit added '
                                 f'its hook lines ({e})', 'put that line '
                                 'back as it was, or ' + RESTORE_BY_HAND
                                 ) from None
            if hook and list(hook.lines) == rec['lines']:
                new['hooks'][rel] = rec
                continue
        if hook is None:
            actions.append(Action(UNHOOK, edited, original, mode))
            continue
        existing = {line.rstrip() for line in original.splitlines()}
        foreign = [line for line in hook.lines if line.encode() in existing]
        if foreign:
            raise NotInstallable(f'{path} already has the line '
                                 f'{foreign[0]!r} but sva-kunit did not add '
                                 'it', 'remove that line or use a clean tree')
        try:
            installed, added_newline = apply_hook(hook, original)
        except ValueError:
            raise NotInstallable(f'{path} has no line {hook.anchor!r} to '
                                 'add the sva-kunit hook before', 'use an '
                                 'unmodified v6.11 or later kernel tree'
                                 ) from None
        new['hooks'][rel] = {'lines': list(hook.lines),
                             'added_newline': added_newline}
        actions.append(Action(HOOK, edited, installed, mode))
    return actions


def plan_sync(tree: str, payload: Mapping[str, PayloadFile]) -> Plan:
    """Every action that makes the tree hold exactly this payload;
    SetupError, before any change, when the tree is not ours to change."""
    recorded = load_manifest(tree)
    old = recorded or new_manifest()
    if recorded is not None:
        _check_recorded(tree, old)
    for rel, rec in sorted(old['files'].items()):
        current = read_bytes(os.path.join(tree, rel))
        # A deleted file loses nothing; only silent edits would be lost.
        if current is not None and sha256(current) != rec['sha256']:
            raise SetupError(f'{os.path.join(tree, rel)} was modified after '
                             'sva-kunit installed it',
                             'undo that change, or ' + RESTORE_BY_HAND)
    needed = {rel.rsplit('/', depth)[0] for rel in payload
              for depth in range(1, rel.count('/') + 1)}
    new = new_manifest()
    plan = Plan()
    for rel in sorted(needed):  # so a directory comes before its contents
        path = os.path.join(tree, rel)
        if not os.path.isdir(path):
            if os.path.lexists(path):
                raise NotInstallable(f'{path} is in the way of the '
                                     'directory sva-kunit needs there',
                                     'move it away or use a clean tree')
            plan.actions.append(Action(MKDIR, rel))
            new['dirs'].append(rel)
        elif rel in old['dirs']:
            new['dirs'].append(rel)
    for rel, item in sorted(payload.items()):
        path = os.path.join(tree, rel)
        if rel not in old['files'] and os.path.lexists(path):
            raise NotInstallable(f'{path} already exists and was not '
                                 'installed by sva-kunit', 'move it away or '
                                 'use a clean tree')
        new['files'][rel] = {'sha256': sha256(item.data)}
        # Rewriting an unchanged file would bump its mtime and make the
        # next kernel build recompile it, so only touch real differences.
        if read_file(path) != (item.data, item.mode):
            plan.actions.append(Action(WRITE, rel, item.data, item.mode))
    plan.actions += _plan_hooks(tree, HOOKS if payload else (), old, new)
    gone = {rel for rel in set(old['files']) - set(payload)
            if os.path.lexists(os.path.join(tree, rel))}
    plan.actions += [Action(REMOVE, rel) for rel in sorted(gone)]
    for rel in sorted(set(old['dirs']) - needed, reverse=True):
        path = os.path.join(tree, rel)
        if not os.path.isdir(path):
            continue
        leftovers = sorted(name for name in os.listdir(path)
                           if f'{rel}/{name}' not in gone)
        if leftovers:
            raise SetupError(f'{path}, created by sva-kunit, holds files it '
                             f'did not install ({", ".join(leftovers)})',
                             'move them away and rerun')
        gone.add(rel)
        plan.actions.append(Action(RMDIR, rel))

    # The manifest goes last: if anything before it fails, the old one is
    # still accurate after rollback.
    empty = not (new['files'] or new['dirs'] or new['hooks'])
    data = None if empty else (json.dumps(new, indent=2) + '\n').encode()
    if read_bytes(os.path.join(tree, MANIFEST_NAME)) != data:
        plan.actions.append(Action(REMOVE if empty else WRITE, MANIFEST_NAME,
                                   data))
    return plan


def _perform(tree: str, action: Action) -> None:
    path = os.path.join(tree, action.path)
    if action.kind == MKDIR:
        os.mkdir(path)
    elif action.kind == RMDIR:
        os.rmdir(path)
    elif action.data is None:
        os.unlink(path)
    else:
        atomic_write(path, action.data, action.mode)


def describe(plan: Plan, dry_run: bool) -> Iterable[str]:
    for action in plan.payload_actions():
        yield ('would ' if dry_run else '') + (
            f'{action.kind[not dry_run]} {action.path}')


def sync(tree: str, payload: Mapping[str, PayloadFile],
         dry_run: bool = False, out: Optional[TextIO] = None) -> Plan:
    """Install or update the payload (none: uninstall) after undoing an
    interrupted install or uninstall; with dry_run, only plan it."""
    if dry_run and os.path.lexists(Journal.path(tree)):
        raise SetupError(f'{Journal.path(tree)} records an interrupted '
                         'install or uninstall, so a dry run cannot tell '
                         'what would change', 'rerun without --dry-run, '
                         'which first undoes that change')
    if not dry_run and Journal.repair(tree) and out is not None:
        out.write('sva-kunit: undid the half-done changes of an '
                  f'interrupted install or uninstall in {tree}\n')
        out.flush()
    plan = plan_sync(tree, payload)
    if dry_run or not plan.actions:
        return plan
    try:
        journal = Journal.begin(tree, [(a.path, DIR if a.kind == MKDIR
                                        else ABSENT if a.data is None
                                        else sha256(a.data))
                                       for a in plan.actions])
    except (ValueError, OSError) as e:  # e.g. a symlink out of the tree
        raise SetupError(f'cannot start changing {tree} ({e}); nothing was '
                         'changed', 'fix that and rerun') from None
    for action in plan.actions:
        try:
            _perform(tree, action)
        except BaseException as e:
            # Roll back, also on Ctrl-C; if even that is cut short, the
            # journal lets the next command finish the job.
            what = (f'changing {tree} failed at "{action.kind[0]} '
                    f'{action.path}" ({e})')
            try:
                journal.rollback()
            except OSError as undo:
                raise SetupError(f'{what} and rolling back failed too '
                                 f'({undo})', 'fix that and rerun install '
                                 'or uninstall, which undo the rest, or '
                                 + RESTORE_BY_HAND) from e
            if not isinstance(e, Exception):
                raise
            raise SetupError(f'{what}; the tree was restored to how it '
                             'was', 'fix the cause and rerun') from e
    journal.finish()
    return plan


def check_state(tree: str) -> None:
    """Read every record sva-kunit keeps in the tree (the journals of an
    interrupted mutate or install, the manifest) before any of them is
    acted on: a bad one is refused while the tree is still as it was."""
    Mutation.repair(tree, dry_run=True)
    Journal.repair(tree, dry_run=True)
    load_manifest(tree)


def uninstall(tree: str, dry_run: bool = False,
              out: Optional[TextIO] = None) -> Plan:
    return sync(tree, {}, dry_run, out)
