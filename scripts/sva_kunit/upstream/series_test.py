import io
import os
import re
import tempfile
import unittest

from ..cli import main
from . import series
from .series import maintainers_add_section, resolve_c
from ..errors import SetupError
from ..testing_support import git

KERNEL = {
    'MAINTAINERS': 'Descriptions\n\n\tM: Mail\n\nIOMMU SUBSYSTEM\n'
                   'M:\tJoerg Roedel <joro@8bytes.org>\n'
                   'L:\tiommu@lists.linux.dev\nS:\tMaintained\n'
                   'F:\tdrivers/iommu/\n\nIOMMUFD\nM:\tJ <j@x>\n'
                   'F:\tdrivers/iommu/iommufd/\n',
    'drivers/iommu/Kconfig': 'if IOMMU_SUPPORT\nconfig IOMMU_X\n\tbool\n'
                             'endif # IOMMU_SUPPORT\n\nsource "x/Kconfig"\n',
    'drivers/iommu/Makefile': 'obj-y += iommu.o\n',
    'drivers/iommu/iommu.c':
        'int a;\n#if IS_ENABLED(CONFIG_IOMMUFD_TEST)\n/*\n * Register an '
        'iommu driver against a single bus. This is only used by iommufd\n'
        ' * selftest to create a mock iommu driver. The caller must '
        'provide\n * some memory to hold a notifier_block.\n */\n#endif\n',
    'include/linux/iommu.h': 'void iommu_sva_invalidate_kva_range(void);\n',
    'include/linux/slab.h': '#define kzalloc_obj(P) kzalloc(sizeof(P))\n',
}

COMPAT_MK = r'''# SPDX-License-Identifier: GPL-2.0
fake_iommu_h := $(srctree)/include/linux/iommu.h
fake_iommu_h_has = $(shell grep -q -e '$(1)' $(fake_iommu_h) && echo y)
fake_iommu_compat_flags :=
ifeq ($(call fake_iommu_h_has,iommu_sva_invalidate_kva_range),y)
fake_iommu_compat_flags += -DFAKE_IOMMU_HAS_SVA_MM_LIST
endif
ifeq ($(call fake_iommu_h_has,remove_dev_pasid),y)
fake_iommu_compat_flags += -DFAKE_IOMMU_HAS_REMOVE_DEV_PASID
endif
ifneq ($(shell grep -q 'IS_ENABLED(CONFIG_FAKE_IOMMU)' \
	$(srctree)/drivers/iommu/iommu.c && echo y),)
fake_iommu_compat_flags += -DFAKE_IOMMU_HAS_MOCK_BUS
endif
'''

C_FILE = '''// SPDX-License-Identifier: GPL-2.0
/* A domain holds one mm_count (I2). */
#ifdef FAKE_IOMMU_HAS_SVA_MM_LIST
int mm_list;
#endif
#ifdef FAKE_IOMMU_HAS_REMOVE_DEV_PASID
int remove_dev_pasid;
#else
int blocked;
#endif
#ifdef FAKE_IOMMU_HAS_MOCK_BUS
int bus;
#endif
#ifndef kzalloc_obj
int compat_kzalloc;
#endif
'''

PROJECT = {
    'drivers/iommu/fake-iommu/compat.mk': COMPAT_MK,
    'drivers/iommu/fake-iommu/Makefile':
        '# SPDX-License-Identifier: GPL-2.0\ninclude $(srctree)/drivers/'
        'iommu/fake-iommu/compat.mk\nccflags-y += $(fake_iommu_compat_flags)'
        '\nobj-$(CONFIG_FAKE_IOMMU) += fake-iommu.o\n',
    'drivers/iommu/fake-iommu/Kconfig':
        '# SPDX-License-Identifier: GPL-2.0-only\nconfig FAKE_IOMMU\n\tbool\n'
        '\tdepends on KUNIT=y\n\nconfig IOMMU_SVA_KUNIT_TEST\n\tbool "t"\n'
        '\tdepends on KUNIT=y\n\nconfig IOMMU_SVA_KUNIT_LEAK_TEST\n'
        '\tbool "l"\n',
    'drivers/iommu/fake-iommu/fake-iommu.c': C_FILE,
    'drivers/iommu/fake-iommu/fake-iommu.h': C_FILE,
    'drivers/iommu/iommu-sva-test.c': C_FILE,
    'drivers/iommu/iommu-sva-model-test.c': C_FILE,
    'drivers/iommu/iommu-sva-leak-test.c': C_FILE,
    'drivers/iommu/.kunitconfig': 'CONFIG_KUNIT=y\n',
    'tools/testing/kunit/configs/iommu_sva.config': 'CONFIG_KASAN=y\n',
}


def write_files(root, files):
    for rel, text in files.items():
        path = os.path.join(root, *rel.split('/'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)


class FormatPatchTest(unittest.TestCase):

    def setUp(self):
        scratch = tempfile.TemporaryDirectory()
        self.addCleanup(scratch.cleanup)
        self.kernel = os.path.join(scratch.name, 'linux')
        self.project = os.path.join(scratch.name, 'project')
        self.outdir = os.path.join(scratch.name, 'out')
        write_files(self.kernel, KERNEL)
        write_files(self.project, PROJECT)
        git(self.kernel, 'init', '-q', '-b', 'main')
        git(self.kernel, 'add', '-A')
        git(self.kernel, 'commit', '-q', '-m', 'base')
        git(self.kernel, 'config', 'user.name', 'Ann Example')
        git(self.kernel, 'config', 'user.email', 'ann@example.org')

    def write(self):
        return series.write_series(self.kernel, self.project,
                                             self.outdir)

    def read(self, path):
        with open(path, encoding='utf-8') as f:
            return f.read()

    def test_writes_the_series_for_the_tree(self):
        before = git(self.kernel, 'for-each-ref') + git(
            self.kernel, 'status', '--porcelain', '--ignored')
        files = self.write()
        self.assertEqual(
            [re.sub(r'^\d{4}-', '', os.path.basename(f))[:40] for f in files],
            ['cover-letter.patch',
             'iommu-Let-the-fake-IOMMU-driver-use-the-',
             'iommu-Add-a-fake-multi-instance-IOMMU-dr',
             'iommu-Add-KUnit-tests-for-the-SVA-lifecy',
             'iommu-Add-a-model-based-KUnit-test-of-SV',
             'iommu-Add-a-kmemleak-scan-after-the-SVA-',
             'kunit-configs-Add-a-debug-config-fragmen'])
        # The user's repository is only read.
        self.assertEqual(git(self.kernel, 'for-each-ref') + git(
            self.kernel, 'status', '--porcelain', '--ignored'), before)

        cover = self.read(files[0])
        self.assertIn('Subject: [PATCH 0/6] iommu: KUnit tests for the SVA '
                      'lifecycle', cover)
        self.assertNotIn('***', cover)
        self.assertIn('base-commit: ', cover)

        mock_bus = self.read(files[1])
        self.assertIn('+#if IS_ENABLED(CONFIG_IOMMUFD_TEST) || '
                      'IS_ENABLED(CONFIG_FAKE_IOMMU)\n', mock_bus)
        self.assertIn('+ * create a mock iommu driver. The caller must '
                      'provide some memory to hold a\n+ * notifier_block.\n',
                      mock_bus)
        driver = self.read(files[2])
        # Resolved for this tree: the mock bus comes from patch 1.
        self.assertIn('+int mm_list;\n+int blocked;\n+int bus;\n', driver)
        self.assertNotIn('remove_dev_pasid', driver)
        self.assertNotIn('compat_kzalloc', driver)
        self.assertIn('+/* A domain holds one mm_count. */\n', driver)
        self.assertIn('+\ttristate "Fake IOMMU driver for KUnit tests" if '
                      '!KUNIT_ALL_TESTS\n+\tdepends on KUNIT\n', driver)
        # The driver's Makefile keeps its SPDX and obj- lines only.
        self.assertIn('+# SPDX-License-Identifier: GPL-2.0\n'
                      '+obj-$(CONFIG_FAKE_IOMMU) += fake-iommu.o\n', driver)
        self.assertNotIn('compat.mk', driver)
        self.assertNotIn('ccflags', driver)
        self.assertIn('+IOMMU SVA KUNIT TESTS\n+M:\tAnn Example '
                      '<ann@example.org>\n+L:\tiommu@lists.linux.dev\n',
                      driver)
        self.assertIn('Signed-off-by: Ann Example <ann@example.org>', driver)
        # Message-Ids too come from the signer, not the machine's config.
        self.assertRegex(driver, r'\nMessage-Id: <[0-9a-f]+\.[0-9]+\.git\.'
                         r'ann@example\.org>\n')
        self.assertIn('+source "drivers/iommu/fake-iommu/Kconfig"\n '
                      'endif # IOMMU_SUPPORT', driver)
        for path in files:
            text = self.read(path)
            self.assertNotIn('FAKE_IOMMU_HAS', text, path)
            self.assertNotRegex(text, r'\(I\d', path)

        # The driver's Kconfig entry in patch 2, the tests' in patch 3:
        # with the driver a module, the tests need no built-in KUnit.
        self.assertIn('+# SPDX-License-Identifier: GPL-2.0-only\n'
                      '+config FAKE_IOMMU\n+\ttristate', driver)
        self.assertNotIn('IOMMU_SVA_KUNIT_TEST', driver)
        self.assertIn('+config IOMMU_SVA_KUNIT_TEST\n+\tbool "t"\n'
                      '+\tdepends on KUNIT\n endif # IOMMU_SUPPORT',
                      self.read(files[3]))
        self.assertNotIn('LEAK', self.read(files[3]))
        self.assertIn(' obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += '
                      'iommu-sva-test.o\n+obj-$(CONFIG_IOMMU_SVA_KUNIT'
                      '_TEST) += iommu-sva-model-test.o', self.read(files[4]))
        # The leak scan links last, with its own bool option.
        leak = self.read(files[5])
        self.assertIn('+config IOMMU_SVA_KUNIT_LEAK_TEST\n+\tbool "l"\n',
                      leak)
        self.assertIn(' obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += '
                      'iommu-sva-model-test.o\n+# Last: ', leak)

    def test_applies_with_git_am(self):
        files = self.write()
        git(self.kernel, 'am', '-q', *files[1:])
        self.assertEqual(git(self.kernel, 'rev-list', '--count', 'HEAD'
                             ).strip(), '7')
        with open(os.path.join(self.kernel, 'MAINTAINERS'),
                  encoding='utf-8') as f:
            self.assertIn('S:\tMaintained\n'
                          'F:\tdrivers/iommu/.kunitconfig\n'
                          'F:\tdrivers/iommu/fake-iommu/\n'
                          'F:\tdrivers/iommu/iommu-sva-leak-test.c\n'
                          'F:\tdrivers/iommu/iommu-sva-model-test.c\n'
                          'F:\tdrivers/iommu/iommu-sva-test.c\n'
                          'F:\ttools/testing/kunit/configs/iommu_sva.config\n'
                          '\nIOMMUFD', f.read())

    def test_refusals_are_one_line_and_exit_2(self):
        os.makedirs(self.outdir)
        write_files(self.outdir, {'0001-x.patch': 'mine'})
        with self.assertRaisesRegex(SetupError, 'already holds 0001-x.patch'):
            self.write()
        self.assertEqual(self.read(os.path.join(self.outdir, '0001-x.patch')),
                         'mine')

        err = io.StringIO()
        code = main(['format-patch', '--kernel',
                     os.path.join(self.kernel, 'drivers'), '-o',
                     self.outdir + '2'], out=io.StringIO(), err=err,
                    repo_root=self.project)
        self.assertEqual(code, 2)
        self.assertRegex(err.getvalue(), r'^sva-kunit: error: .*drivers is '
                         r'not the top of a git work tree; .*\n$')

        git(self.kernel, 'config', '--unset', 'user.email')
        env = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(env)))
        os.environ.update(HOME=self.project, GIT_CONFIG_NOSYSTEM='1',
                          XDG_CONFIG_HOME=self.project)
        os.environ.pop('GIT_AUTHOR_EMAIL', None)
        os.environ.pop('EMAIL', None)
        with self.assertRaisesRegex(SetupError, 'no git user.name and '
                                    'user.email'):
            series.write_series(self.kernel, self.project,
                                          self.outdir + '3')

    def test_a_tree_it_does_not_fit_is_refused(self):
        os.unlink(os.path.join(self.kernel, 'drivers', 'iommu', 'iommu.c'))
        git(self.kernel, 'commit', '-q', '-a', '-m', 'no iommu.c')
        with self.assertRaisesRegex(SetupError, 'has no drivers/iommu/'
                                    'iommu.c; the series targets'):
            self.write()


C = '''#ifndef __X_H
#define __X_H
int a;
#ifdef FAKE_IOMMU_HAS_OLD
/* Before v6.19 */
int old;
#else
int new;
#endif

#ifndef FAKE_IOMMU_HAS_OLD
#ifdef CONFIG_Y
int y;
#endif
#endif
#ifndef kzalloc_obj
#define kzalloc_obj(P) kzalloc(sizeof(P), GFP_KERNEL)
#endif
#endif /* __X_H */'''


class ResolveConditionalsTest(unittest.TestCase):

    def test_keeps_the_taken_branch_and_other_conditionals(self):
        got = resolve_c(C, {'FAKE_IOMMU_HAS_OLD': False,
                            'kzalloc_obj': True}, 'f.c')
        self.assertEqual(got, '#ifndef __X_H\n#define __X_H\nint a;\n'
                         'int new;\n\n#ifdef CONFIG_Y\nint y;\n#endif\n'
                         '#endif /* __X_H */')

    def test_other_value(self):
        got = resolve_c(C, {'FAKE_IOMMU_HAS_OLD': True,
                            'kzalloc_obj': False}, 'f.c')
        self.assertIn('/* Before v6.19 */\nint old;\n', got)
        self.assertNotIn('CONFIG_Y', got)
        self.assertIn('#define kzalloc_obj', got)

    def test_unknown_compat_macro_is_an_error(self):
        with self.assertRaisesRegex(ValueError, 'f.c:1: no value for '
                                    'FAKE_IOMMU_NEW'):
            resolve_c('#ifdef FAKE_IOMMU_NEW\n#endif\n', {}, 'f.c')

    def test_if_on_a_compat_macro_is_an_error(self):
        with self.assertRaisesRegex(ValueError, 'cannot resolve'):
            resolve_c('#if defined(FAKE_IOMMU_A)\n#endif\n',
                      {'FAKE_IOMMU_A': True}, 'f.c')

    def test_unbalanced(self):
        with self.assertRaisesRegex(ValueError, 'unterminated'):
            resolve_c('#ifdef FAKE_IOMMU_A\n', {'FAKE_IOMMU_A': True}, 'f.c')
        for text in ('#endif\n', 'x\n#else\n'):
            with self.assertRaisesRegex(ValueError, 'without #if'):
                resolve_c(text, {}, 'f.c')
        with self.assertRaisesRegex(ValueError, 'f.c:2: #elif in a compat'):
            resolve_c('#ifdef FAKE_IOMMU_A\n#elif X\n#endif\n',
                      {'FAKE_IOMMU_A': True}, 'f.c')
        # An #elif of another conditional passes through.
        self.assertEqual(resolve_c('#if X\n#elif Y\n#endif', {}, 'f.c'),
                         '#if X\n#elif Y\n#endif')

    def test_no_blank_line_left_before_a_closing_brace(self):
        text = ('{\n\tint a;\n\n#ifdef FAKE_IOMMU_A\n\tint b;\n#endif\n'
                '}\n')
        self.assertEqual(resolve_c(text, {'FAKE_IOMMU_A': False}, 'f.c'),
                         '{\n\tint a;\n}\n')


class InvariantRefsTest(unittest.TestCase):

    def test_strips_the_parenthesised_forms(self):
        text = ('/* A new mm gets the lowest free PASID (I1). */\n'
                ' * before free (I2, I9), and the rest (I1-I13).\n')
        self.assertEqual(resolve_c(text, {}, 'f.c'),
                         '/* A new mm gets the lowest free PASID. */\n'
                         ' * before free, and the rest.\n')

    def test_any_other_form_is_refused(self):
        for text in ('/* I1: a new mm */', '/* (I2, I9: order) */',
                     '/* see I12 */'):
            with self.subTest(text=text), \
                    self.assertRaisesRegex(ValueError, 'f.c:1: invariant'):
                resolve_c(text, {}, 'f.c')


MAINTAINERS = '''Descriptions of section entries:

	M: Mail patches to

ARM/LPC32XX SOC SUPPORT
M:	E <e@x>
F:	drivers/usb/host/ohci-nxp.c

LPC32XX DMAMUX SUPPORT
M:	F <f@x>
F:	drivers/dma/lpc32xx-dmamux.c

IOMMU DMA-API LAYER
M:	A <a@x>
F:	drivers/iommu/dma-iommu.c

IOMMU SUBSYSTEM
M:	B <b@x>
L:	iommu@lists.linux.dev
F:	drivers/iommu/

IOMMUFD
M:	C <c@x>
F:	drivers/iommu/iommufd/
'''


class MaintainersTest(unittest.TestCase):

    def test_section_goes_where_it_sorts_among_its_like(self):
        # "ARM/LPC32XX" < "IOMMU SVA" < "LPC32XX" too, but the file is
        # sorted only locally.
        text = maintainers_add_section(MAINTAINERS,
                                       'IOMMU SVA KUNIT TESTS\nM:\tD <d@x>\n'
                                       'F:\tdrivers/iommu/fake-iommu/\n')
        self.assertIn('F:\tdrivers/iommu/\n\nIOMMU SVA KUNIT TESTS\nM:\tD '
                      '<d@x>\nF:\tdrivers/iommu/fake-iommu/\n\nIOMMUFD\n',
                      text)
        with self.assertRaisesRegex(ValueError, 'already has'):
            maintainers_add_section(text, 'IOMMU SVA KUNIT TESTS\nM:\tD\n')


if __name__ == '__main__':
    unittest.main()
