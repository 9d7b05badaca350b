"""`sva-kunit format-patch`: the suite as a git format-patch series against
the HEAD of a kernel repository, which is only read.  The C is resolved
for that tree: no compat conditionals, no invariant numbers (ValueError
where it cannot be, or where the checkout or the tree does not fit)."""

import argparse
import glob
import os
import re
import subprocess
import tempfile
from typing import Callable, Dict, List, Mapping, Optional, TextIO, Tuple

from .bisect.git_tree import GitError, git, git_text, toplevel
from .command import Subcommand
from .errors import EXIT_OK, SetupError

NO_CONFIG = ('-c', 'core.fsmonitor=false', '-c', 'gc.auto=0',
             '-c', 'commit.gpgsign=false')
UPSTREAM = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'upstream')
PLACEHOLDERS = ('*** SUBJECT HERE ***', '*** BLURB HERE ***')
FAKE_DIR = 'drivers/iommu/fake-iommu'
SUITE_C = 'drivers/iommu/iommu-sva-test.c'
MODEL_C = 'drivers/iommu/iommu-sva-model-test.c'
KUNITCONFIG = 'drivers/iommu/.kunitconfig'
CONFIG_FRAGMENT = 'tools/testing/kunit/configs/iommu_sva.config'
IOMMU_KCONFIG = 'drivers/iommu/Kconfig'
IOMMU_MAKEFILE = 'drivers/iommu/Makefile'
IOMMU_C = 'drivers/iommu/iommu.c'
KCONFIG_END = 'endif # IOMMU_SUPPORT\n'
SUITE_OBJ = 'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o\n'

# The macros the project's C may test, and how to tell their value for a
# tree: the FAKE_IOMMU_* ones by compat.mk, the rest by a kernel header.
KERNEL_MACROS = {'kzalloc_obj': 'include/linux/slab.h'}
RESOLVABLE = re.compile(r'(FAKE_IOMMU_[A-Z0-9_]+|kzalloc_obj)$')

_IFDEF = re.compile(r'^\s*#\s*(ifdef|ifndef)\s+(\w+)\s*(?:/\*.*\*/\s*)?$')
_DIRECTIVE = re.compile(r'^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b')

# "(I4)", "(I2, I9)", "(I1-I13)": the only form a reference may take, so
# that dropping it leaves the sentence around it whole.
INVARIANT_REF = re.compile(
    r'[ \t]*\(I\d+(?:-I\d+)?(?:, I\d+(?:-I\d+)?)*\)')
_LEFTOVER_REF = re.compile(r'\bI\d+\b')


def resolve_conditionals(text: str, defined: Mapping[str, bool],
                         where: str) -> str:
    """Keep the branch of every #ifdef/#ifndef on a resolvable macro that
    the tree takes, drop the other and the directives; other conditionals
    pass through.  The caller must know every compat macro."""
    out: List[str] = []
    # One entry per open conditional: None for one that passes through,
    # else whether the current branch is taken.
    stack: List[Optional[bool]] = []
    for number, line in enumerate(text.split('\n'), 1):
        ifdef = _IFDEF.match(line)
        found = _DIRECTIVE.match(line)
        directive = found.group(1) if found else None
        if ifdef and RESOLVABLE.match(ifdef.group(2)):
            macro = ifdef.group(2)
            if macro not in defined:
                raise ValueError(f'{where}:{number}: no value for {macro}')
            stack.append(defined[macro] == (ifdef.group(1) == 'ifdef'))
            continue
        if directive in ('if', 'ifdef', 'ifndef'):
            if any(map(RESOLVABLE.match, re.findall(r'\w+', line))):
                raise ValueError(f'{where}:{number}: cannot resolve '
                                 f'{line.strip()!r}; use #ifdef or #ifndef '
                                 'on a compat macro')
            stack.append(None)
        elif directive == 'elif' and stack and stack[-1] is not None:
            raise ValueError(f'{where}:{number}: #elif in a compat '
                             'conditional')
        elif directive in ('else', 'endif') and not stack:
            raise ValueError(f'{where}:{number}: #{directive} without #if')
        elif directive == 'else' and stack[-1] is not None:
            stack[-1] = not stack[-1]
            continue
        elif directive == 'endif' and stack.pop() is not None:
            continue
        if False not in stack:
            out.append(line)
    if stack:
        raise ValueError(f'{where}: unterminated conditional')
    # No two blank lines in a row, none before a closing brace: what a
    # dropped branch can leave behind and checkpatch rejects.
    text = re.sub(r'\n{3,}', '\n\n', '\n'.join(out))
    return re.sub(r'\n\n(\t*\}[;,]?\n)', r'\n\1', text)


def strip_invariant_refs(text: str, where: str) -> str:
    stripped = INVARIANT_REF.sub('', text)
    for number, line in enumerate(stripped.split('\n'), 1):
        found = _LEFTOVER_REF.search(line)
        if found:
            raise ValueError(f'{where}:{number}: invariant reference '
                             f'{found.group(0)} not in the "(I4)" form: '
                             f'{line.strip()!r}')
    return stripped


def kconfig_entries(text: str) -> Tuple[str, Dict[str, str]]:
    """(the lines before the first entry, {symbol: its entry's text})."""
    head, *parts = re.split(r'^(?=config \w+$)', text, flags=re.M)
    return head, {part.split('\n', 1)[0].split()[1]: part.rstrip('\n') + '\n'
                  for part in parts}


def replace_once(text: str, old: str, new: str, where: str) -> str:
    count = text.count(old)
    if count != 1:
        raise ValueError(f'{where}: expected {old.strip()!r} once, found it '
                         f'{count} times')
    return text.replace(old, new)


def maintainers_add_section(text: str, section: str) -> str:
    """Insert a MAINTAINERS section where its title sorts.  The file is
    sorted only locally, so of all the gaps where it sorts, the one beside
    the titles most like it wins."""
    title = section.split('\n', 1)[0]
    blocks = text.split('\n\n')
    heads = [(i, block.split('\n', 1)[0]) for i, block in enumerate(blocks)
             if re.match(r'[A-Z0-9].*\n[A-Z]:\t', block)]
    if any(head == title for _, head in heads):
        raise ValueError(f'MAINTAINERS already has {title!r}')
    gaps = [(max(len(os.path.commonprefix([prev, title])),
                 len(os.path.commonprefix([head, title]))), -i)
            for (_, prev), (i, head) in zip(heads, heads[1:])
            if prev < title < head]
    if not gaps:
        raise ValueError(f'MAINTAINERS: no place for {title!r}')
    blocks.insert(-max(gaps)[1], section.rstrip('\n'))
    return '\n\n'.join(blocks)


def read_repo_file(repo_root: str, rel: str) -> str:
    with open(os.path.join(repo_root, *rel.split('/')), encoding='utf-8',
              newline='') as f:
        return f.read()


def compat_macros(compat_mk: str, read: Callable[[str], str]
                  ) -> Dict[str, bool]:
    """Which FAKE_IOMMU_* macros compat.mk sets for the tree whose files
    read() returns: make evaluates compat.mk itself, on those of the
    tree's files it names, so its rules and these never drift apart."""
    with tempfile.TemporaryDirectory(prefix='sva-kunit-compat-') as srctree:
        for rel in re.findall(r'\$\(srctree\)/([\w./-]+)', compat_mk):
            path = os.path.join(srctree, *rel.split('/'))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(read(rel))
        proc = subprocess.run(
            ['make', '-s', '-f', '-', f'srctree={srctree}',
             '--eval=probe:; @echo $(fake_iommu_compat_flags)', 'probe'],
            input=compat_mk, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ValueError(f'make could not evaluate compat.mk: '
                         f'{proc.stderr.strip()[:200]}')
    defined = set(re.findall(r'-D(\w+)', proc.stdout))
    return {macro: macro in defined
            for macro in re.findall(r'-D(FAKE_IOMMU_\w+)', compat_mk)}


def build_series(repo_root: str, kernel: str, base: str, author: str
                 ) -> List[Tuple[str, Dict[str, str]]]:
    """The patches on commit base of kernel, oldest first: (message,
    {path: whole new content}).  author: "Name <email>", the maintainer
    the MAINTAINERS entry names."""
    state: Dict[str, str] = {}
    changes: List[Dict[str, str]] = []

    def current(rel: str) -> str:
        if rel not in state:
            proc = git(kernel, ('cat-file', 'blob', f'{base}:{rel}'),
                       check=False)
            if proc.returncode != 0:
                raise ValueError(f'the target tree has no {rel}')
            state[rel] = proc.stdout.decode('utf-8')
        return state[rel]

    def edit(rel: str, old: str, new: str) -> str:
        return replace_once(current(rel), old, new, rel)

    def commit(files: Dict[str, str]) -> None:
        state.update(files)
        changes.append(files)

    def ours(rel: str) -> str:
        return read_repo_file(repo_root, rel)

    # Patch 1: the mock bus helpers, for the fake driver too.
    state[IOMMU_C] = edit(
        IOMMU_C, '#if IS_ENABLED(CONFIG_IOMMUFD_TEST)\n',
        '#if IS_ENABLED(CONFIG_IOMMUFD_TEST) || '
        'IS_ENABLED(CONFIG_FAKE_IOMMU)\n')
    commit({IOMMU_C: edit(
        IOMMU_C, ' * Register an iommu driver against a single bus. This '
        'is only used by iommufd\n * selftest to create a mock iommu '
        'driver. The caller must provide\n * some memory to hold a '
        'notifier_block.\n',
        ' * Register an iommu driver against a single bus. This is only '
        'used by test\n * drivers (the iommufd selftest, the fake IOMMU '
        'driver of KUnit tests) to\n * create a mock iommu driver. The '
        'caller must provide some memory to hold a\n * notifier_block.'
        '\n')})

    macros = compat_macros(ours(f'{FAKE_DIR}/compat.mk'), current)
    if not macros.get('FAKE_IOMMU_HAS_MOCK_BUS'):
        raise ValueError('compat.mk does not see the mock bus of patch 1')
    for macro, header in KERNEL_MACROS.items():
        macros[macro] = bool(re.search(rf'#\s*define\s+{macro}\b',
                                       current(header)))

    def c_file(rel: str) -> str:
        text = resolve_conditionals(ours(rel), macros, rel)
        return strip_invariant_refs(text, rel)

    head, entries = kconfig_entries(ours(f'{FAKE_DIR}/Kconfig'))
    for symbol in ('FAKE_IOMMU', 'IOMMU_SVA_KUNIT_TEST'):
        if symbol not in entries:
            raise ValueError(f'{FAKE_DIR}/Kconfig has no {symbol}')
    # Upstream the driver can be a module (it uses only exported
    # symbols), and has a prompt so that other tests can enable it.
    fake_entry = replace_once(
        entries['FAKE_IOMMU'], '\tbool\n\tdepends on KUNIT=y\n',
        '\ttristate "Fake IOMMU driver for KUnit tests" if '
        '!KUNIT_ALL_TESTS\n\tdepends on KUNIT\n', 'FAKE_IOMMU')
    listed: List[str] = []
    maintainers_file = current('MAINTAINERS')

    def maintainers(*added: str) -> str:
        """The tree's MAINTAINERS with the series' section, which lists
        every file added so far."""
        listed.extend(added)
        return maintainers_add_section(
            maintainers_file, 'IOMMU SVA KUNIT TESTS\n'
            f'M:\t{author}\nL:\tiommu@lists.linux.dev\nS:\tMaintained\n'
            + ''.join(f'F:\t{rel}\n' for rel in sorted(listed)))
    commit({
        f'{FAKE_DIR}/Kconfig': head + fake_entry,
        f'{FAKE_DIR}/Makefile': ''.join(
            line for line in ours(f'{FAKE_DIR}/Makefile').splitlines(True)
            if line.startswith(('# SPDX-License-Identifier', 'obj-'))),
        f'{FAKE_DIR}/fake-iommu.c': c_file(f'{FAKE_DIR}/fake-iommu.c'),
        f'{FAKE_DIR}/fake-iommu.h': c_file(f'{FAKE_DIR}/fake-iommu.h'),
        IOMMU_KCONFIG: edit(IOMMU_KCONFIG, KCONFIG_END,
                            f'\nsource "{FAKE_DIR}/Kconfig"\n{KCONFIG_END}'),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE)
        + 'obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/\n',
        'MAINTAINERS': maintainers(f'{FAKE_DIR}/'),
    })

    commit({
        SUITE_C: c_file(SUITE_C),
        KUNITCONFIG: ours(KUNITCONFIG),
        IOMMU_KCONFIG: edit(IOMMU_KCONFIG, KCONFIG_END, '\n' + entries[
            'IOMMU_SVA_KUNIT_TEST'] + KCONFIG_END),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE) + SUITE_OBJ,
        'MAINTAINERS': maintainers(SUITE_C, KUNITCONFIG),
    })

    commit({
        MODEL_C: c_file(MODEL_C),
        IOMMU_MAKEFILE: edit(
            IOMMU_MAKEFILE, SUITE_OBJ,
            '# Before iommu-sva-test.o: its leak suite must run last.\n'
            'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-model-test.o\n'
            + SUITE_OBJ),
        'MAINTAINERS': maintainers(MODEL_C),
    })

    commit({
        CONFIG_FRAGMENT: ours(CONFIG_FRAGMENT),
        'MAINTAINERS': maintainers(CONFIG_FRAGMENT),
    })
    with open(os.path.join(UPSTREAM, 'commit-messages.txt'),
              encoding='utf-8') as f:
        messages = f.read().split('\n---\n')
    return list(zip(messages, changes))


def write_series(kernel: str, repo_root: str, outdir: str) -> List[str]:
    """The files written, cover letter first; SetupError for what the
    user has to fix.  The commits are made with git's plumbing in a
    scratch clone of kernel that borrows its objects."""
    top = toplevel(kernel)
    if top is None or os.path.realpath(top) != os.path.realpath(kernel):
        raise SetupError(f'{kernel} is not the top of a git work tree',
                         'format-patch writes the series against the HEAD '
                         'of a kernel git repository; pass its top '
                         'directory as --kernel')
    name, email = (git(kernel, ('config', '--get', key), check=False)
                   .stdout.decode(errors='replace').strip()
                   for key in ('user.name', 'user.email'))
    if not name or not email:
        raise SetupError(f'no git user.name and user.email for {kernel}',
                         'set them (git config user.name/user.email): they '
                         'sign off the patches and name the maintainer')
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise SetupError(f'{outdir} is not a directory',
                         'pass a directory as -o')
    old = sorted(glob.glob(os.path.join(glob.escape(outdir), '[0-9]'
                                        '[0-9][0-9][0-9]-*.patch')))
    if old:
        raise SetupError(f'{outdir} already holds {os.path.basename(old[0])}'
                         f' and {len(old) - 1} more patches',
                         'pass an empty or new directory as -o')
    env = {'GIT_AUTHOR_NAME': name, 'GIT_AUTHOR_EMAIL': email,
           'GIT_COMMITTER_NAME': name, 'GIT_COMMITTER_EMAIL': email}
    try:
        base = git_text(kernel, ('rev-parse', '--verify', 'HEAD'))
        patches = build_series(repo_root, kernel, base, f'{name} <{email}>')
        os.makedirs(outdir, exist_ok=True)
        with tempfile.TemporaryDirectory(
                prefix='sva-kunit-format-patch-') as scratch:
            clone = os.path.join(scratch, 'repo')
            git(scratch, ('clone', '-q', '--shared', '--no-checkout',
                          kernel, clone))
            git(clone, (*NO_CONFIG, 'read-tree', base))
            parent = base
            for message, files in patches:
                for rel, text in sorted(files.items()):
                    blob = git(clone, ('hash-object', '-w', '--stdin'),
                               input_bytes=text.encode('utf-8')).stdout
                    listed = git_text(clone, ('ls-files', '-s', '--', rel))
                    mode = listed.split()[0] if listed else '100644'
                    git(clone, ('update-index', '--add', '--cacheinfo',
                                f'{mode},{blob.decode().strip()},{rel}'))
                tree = git_text(clone, ('write-tree',))
                message = (f'{message.strip()}\n\nSigned-off-by: {name} '
                           f'<{email}>\n')
                parent = git(clone, (*NO_CONFIG, 'commit-tree', tree, '-p',
                                     parent, '-F', '-'), env=env,
                             input_bytes=message.encode('utf-8')
                             ).stdout.decode().strip()
            files = git_text(clone, (
                *NO_CONFIG, 'format-patch', '--cover-letter',
                '--thread=shallow', f'--base={base}',
                f'--output-directory={os.path.abspath(outdir)}',
                f'{base}..{parent}'), env=env).splitlines()
        with open(os.path.join(UPSTREAM, 'cover-letter.txt'),
                  encoding='utf-8') as f:
            texts = f.read().partition('\n---\n')[::2]
        with open(files[0], encoding='utf-8') as f:
            cover = f.read()
        for placeholder, text in zip(PLACEHOLDERS, texts):
            if placeholder not in cover:
                raise GitError(f'{files[0]}: git format-patch wrote no '
                               f'{placeholder}')
            cover = cover.replace(placeholder, text.strip(), 1)
        with open(files[0], 'w', encoding='utf-8') as f:
            f.write(cover)
        return files
    except (ValueError, GitError) as e:
        raise SetupError(f'cannot make the series against {kernel}: {e}',
                         'the series targets a Linux 7.3 tree') from None


def handle(args: argparse.Namespace, out: TextIO) -> int:
    files = write_series(args.kernel, args.repo_root, args.output_directory)
    for path in files:
        out.write(path + '\n')
    out.write(f'sva-kunit format-patch: {len(files) - 1} patches and a '
              f'cover letter in {args.output_directory}\n')
    return EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--kernel', metavar='DIR', required=True,
                        help='top of a kernel git repository (Linux 7.3); '
                        'the series applies to its HEAD')
    parser.add_argument('-o', '--output-directory', metavar='OUTDIR',
                        default='.', help='where to write the patches '
                        '(default: the current directory)')


FORMAT_PATCH = Subcommand(
    'format-patch', 'write the suite as a git format-patch series (cover '
    'letter included) against the HEAD of a kernel git repository',
    add_arguments, handle)
