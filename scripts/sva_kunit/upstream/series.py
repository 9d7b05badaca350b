"""The suite as a git format-patch series against the HEAD of a kernel
repository, which is only read, its C resolved for that tree (ValueError
where it cannot be, or where the tree does not fit)."""

import glob
import os
import re
import subprocess
import tempfile
from typing import Callable, Dict, List, Mapping, Optional

from ..git_tools import GitError, git, git_text, toplevel
from ..errors import SetupError

UPSTREAM = os.path.dirname(os.path.abspath(__file__))
FAKE_DIR = 'drivers/iommu/fake-iommu'
SUITE_C = 'drivers/iommu/iommu-sva-test.c'
MODEL_C = 'drivers/iommu/iommu-sva-model-test.c'
LEAK_C = 'drivers/iommu/iommu-sva-leak-test.c'
KUNITCONFIG = 'drivers/iommu/.kunitconfig'
CONFIG_FRAGMENT = 'tools/testing/kunit/configs/iommu_sva.config'
IOMMU_KCONFIG = 'drivers/iommu/Kconfig'
IOMMU_MAKEFILE = 'drivers/iommu/Makefile'
IOMMU_C = 'drivers/iommu/iommu.c'
FAKE_KCONFIG = f'{FAKE_DIR}/Kconfig'
KCONFIG_END = 'endif # IOMMU_SUPPORT\n'
SUITE_OBJ = 'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-test.o\n'

# The macros the project's C may test: the FAKE_IOMMU_* ones, which
# compat.mk sets for a tree, and kzalloc_obj, which slab.h may define.
RESOLVABLE = re.compile(r'(FAKE_IOMMU_[A-Z0-9_]+|kzalloc_obj)$')

_IFDEF = re.compile(r'^\s*#\s*(ifdef|ifndef)\s+(\w+)\s*(?:/\*.*\*/\s*)?$')
_DIRECTIVE = re.compile(r'^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b')

# "(I4)", "(I2, I9)", "(I1-I13)": the only form a reference may take, so
# that dropping it leaves the sentence around it whole.
INVARIANT_REF = re.compile(
    r'[ \t]*\(I\d+(?:-I\d+)?(?:, I\d+(?:-I\d+)?)*\)')
_LEFTOVER_REF = re.compile(r'\bI\d+\b')


def resolve_c(text: str, defined: Mapping[str, bool], where: str) -> str:
    """Keep the branch of every #ifdef/#ifndef on a resolvable macro that
    the tree takes, drop the other and the directives (other conditionals
    pass through), and the invariant references."""
    out: List[str] = []
    # One entry per open conditional: None for one that passes through,
    # else whether the current branch is taken.
    stack: List[Optional[bool]] = []
    for number, line in enumerate(text.split('\n'), 1):
        ifdef = _IFDEF.match(line)
        found = _DIRECTIVE.match(line)
        directive = found and found.group(1)
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
            out.append(INVARIANT_REF.sub('', line))
            found = _LEFTOVER_REF.search(out[-1])
            if found:
                raise ValueError(f'{where}:{number}: invariant reference '
                                 f'{found.group(0)} not in the "(I4)" form: '
                                 f'{line.strip()!r}')
    if stack:
        raise ValueError(f'{where}: unterminated conditional')
    # No two blank lines in a row, none before a closing brace: what a
    # dropped branch can leave behind and checkpatch rejects.
    text = re.sub(r'\n{3,}', '\n\n', '\n'.join(out))
    return re.sub(r'\n\n(\t*\}[;,]?\n)', r'\n\1', text)


def replace_once(text: str, old: str, new: str, where: str) -> str:
    count = text.count(old)
    if count != 1:
        raise ValueError(f'{where}: expected {old.strip()!r} once, found it '
                         f'{count} times')
    return text.replace(old, new)


def read_file(*path: str) -> str:
    with open(os.path.join(*path), encoding='utf-8', newline='') as f:
        return f.read()


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


def compat_macros(compat_mk: str, read: Callable[[str], str]
                  ) -> Dict[str, bool]:
    """Which FAKE_IOMMU_* macros compat.mk sets for the tree whose files
    read() returns: make evaluates compat.mk itself, on copies of them."""
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
                 ) -> bytes:
    """The series as a git fast-import stream of commits on base, branch
    series.  author: "Name <email>", who signs the patches and is the
    maintainer the MAINTAINERS entry names."""
    state: Dict[str, str] = {}
    stream = [f'reset refs/heads/series\nfrom {base}\n\n'.encode()]
    messages = read_file(UPSTREAM, 'commit-messages.txt').split('\n---\n')
    listed: List[str] = []

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

    def commit(files: Dict[str, str], *added: str) -> None:
        """A patch; added: what it adds to the series' MAINTAINERS entry,
        which lists every file added so far."""
        if added:
            listed.extend(added)
            files['MAINTAINERS'] = maintainers_add_section(
                maintainers, f'IOMMU SVA KUNIT TESTS\nM:\t{author}\n'
                'L:\tiommu@lists.linux.dev\nS:\tMaintained\n'
                + ''.join(f'F:\t{rel}\n' for rel in sorted(listed)))
        state.update(files)
        texts = [(f'commit refs/heads/series\ncommitter {author} now\n',
                  f'{messages.pop(0).strip()}\n\nSigned-off-by: {author}\n')]
        texts += [(f'M 100644 inline {rel}\n', text)
                  for rel, text in sorted(files.items())]
        for command, text in texts:
            data = text.encode('utf-8')
            stream.append(b'%sdata %d\n%s\n' % (command.encode('utf-8'),
                                                 len(data), data))

    def ours(rel: str) -> str:
        return read_file(repo_root, rel)

    maintainers = current('MAINTAINERS')
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
    macros['kzalloc_obj'] = bool(re.search(
        r'#\s*define\s+kzalloc_obj\b', current('include/linux/slab.h')))

    # The driver's entry, then the tests'.
    kconfig, found, test_entry = ours(FAKE_KCONFIG).partition(
        '\nconfig IOMMU_SVA_KUNIT_TEST\n')
    if not found:
        raise ValueError(f'{FAKE_KCONFIG} has no IOMMU_SVA_KUNIT_TEST')
    test_entry, found, leak_entry = test_entry.partition(
        '\nconfig IOMMU_SVA_KUNIT_LEAK_TEST\n')
    if not found:
        raise ValueError(f'{FAKE_KCONFIG} has no IOMMU_SVA_KUNIT_LEAK_TEST')
    leak_entry = found[1:] + leak_entry.rstrip('\n') + '\n'
    test_entry = ('\nconfig IOMMU_SVA_KUNIT_TEST\n'[1:]
                  + test_entry.rstrip('\n') + '\n')
    # With a modular fake driver, the suite needs no built-in KUnit.
    test_entry = replace_once(test_entry, '\tdepends on KUNIT=y\n',
                              '\tdepends on KUNIT\n', FAKE_KCONFIG)
    # Upstream the driver can be a module (it uses only exported
    # symbols), and has a prompt so that other tests can enable it.
    kconfig = replace_once(
        kconfig.rstrip('\n') + '\n', '\tbool\n\tdepends on KUNIT=y\n',
        '\ttristate "Fake IOMMU driver for KUnit tests" if '
        '!KUNIT_ALL_TESTS\n\tdepends on KUNIT\n', FAKE_KCONFIG)
    commit({
        FAKE_KCONFIG: kconfig,
        f'{FAKE_DIR}/Makefile': ''.join(
            line for line in ours(f'{FAKE_DIR}/Makefile').splitlines(True)
            if line.startswith(('# SPDX-License-Identifier', 'obj-'))),
        **{rel: resolve_c(ours(rel), macros, rel) for rel in (
            f'{FAKE_DIR}/fake-iommu.c', f'{FAKE_DIR}/fake-iommu.h')},
        IOMMU_KCONFIG: edit(IOMMU_KCONFIG, KCONFIG_END,
                            f'\nsource "{FAKE_DIR}/Kconfig"\n{KCONFIG_END}'),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE)
        + 'obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/\n',
    }, f'{FAKE_DIR}/')

    commit({
        SUITE_C: resolve_c(ours(SUITE_C), macros, SUITE_C),
        KUNITCONFIG: ours(KUNITCONFIG),
        IOMMU_KCONFIG: edit(IOMMU_KCONFIG, KCONFIG_END,
                            f'\n{test_entry}{KCONFIG_END}'),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE) + SUITE_OBJ,
    }, SUITE_C, KUNITCONFIG)

    commit({
        MODEL_C: resolve_c(ours(MODEL_C), macros, MODEL_C),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE)
        + 'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += iommu-sva-model-test.o\n',
    }, MODEL_C)

    commit({
        LEAK_C: resolve_c(ours(LEAK_C), macros, LEAK_C),
        IOMMU_KCONFIG: edit(IOMMU_KCONFIG, KCONFIG_END,
                            f'\n{leak_entry}{KCONFIG_END}'),
        IOMMU_MAKEFILE: current(IOMMU_MAKEFILE)
        + '# Last: its suite looks for what the ones before it leaked.\n'
        'obj-$(CONFIG_IOMMU_SVA_KUNIT_LEAK_TEST) += iommu-sva-leak-test.o\n',
    }, LEAK_C)

    commit({CONFIG_FRAGMENT: ours(CONFIG_FRAGMENT)}, CONFIG_FRAGMENT)
    return b''.join(stream)


def write_series(kernel: str, repo_root: str, outdir: str) -> List[str]:
    """The files written, cover letter first; SetupError for what the
    user has to fix.  The commits are made by git fast-import in a
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
    try:
        base = git_text(kernel, ('rev-parse', '--verify', 'HEAD'))
        stream = build_series(repo_root, kernel, base, f'{name} <{email}>')
        os.makedirs(outdir, exist_ok=True)
        with tempfile.TemporaryDirectory(
                prefix='sva-kunit-format-patch-') as scratch:
            git(scratch, ('clone', '-q', '--shared', '--no-checkout',
                          kernel, 'repo'))
            clone = os.path.join(scratch, 'repo')
            git(clone, ('fast-import', '--quiet', '--date-format=now'),
                input_bytes=stream)
            # Message-Ids too come from the signer.
            files = git_text(clone, (
                'format-patch', '--cover-letter', '--thread=shallow',
                f'--base={base}', f'{base}..series',
                f'--output-directory={os.path.abspath(outdir)}'),
                env={'GIT_COMMITTER_NAME': name,
                     'GIT_COMMITTER_EMAIL': email}).splitlines()
        cover = read_file(files[0])
        texts = read_file(UPSTREAM, 'cover-letter.txt').partition('\n---\n')
        for placeholder, text in (('*** SUBJECT HERE ***', texts[0]),
                                  ('*** BLURB HERE ***', texts[2])):
            cover = replace_once(cover, placeholder, text.strip(), files[0])
        with open(files[0], 'w', encoding='utf-8') as f:
            f.write(cover)
        return files
    except (ValueError, GitError) as e:
        raise SetupError(f'cannot make the series against {kernel}: {e}',
                         'the series targets a Linux 7.3 tree') from None
