import unittest

from . import source_text
from .source_text import (kconfig_entries, maintainers_add_section,
                          resolve_conditionals, strip_invariant_refs)

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
        got = resolve_conditionals(C, {'FAKE_IOMMU_HAS_OLD': False,
                                       'kzalloc_obj': True})
        self.assertEqual(got, '#ifndef __X_H\n#define __X_H\nint a;\n'
                         'int new;\n\n#ifdef CONFIG_Y\nint y;\n#endif\n'
                         '#endif /* __X_H */')

    def test_other_value(self):
        got = resolve_conditionals(C, {'FAKE_IOMMU_HAS_OLD': True,
                                       'kzalloc_obj': False})
        self.assertIn('/* Before v6.19 */\nint old;\n', got)
        self.assertNotIn('CONFIG_Y', got)
        self.assertIn('#define kzalloc_obj', got)

    def test_unknown_compat_macro_is_an_error(self):
        with self.assertRaisesRegex(ValueError, 'f.c:1: no value for '
                                    'FAKE_IOMMU_NEW'):
            resolve_conditionals('#ifdef FAKE_IOMMU_NEW\n#endif\n', {}, 'f.c')

    def test_if_on_a_compat_macro_is_an_error(self):
        with self.assertRaisesRegex(ValueError, 'cannot resolve'):
            resolve_conditionals('#if defined(FAKE_IOMMU_A)\n#endif\n',
                                 {'FAKE_IOMMU_A': True})

    def test_unbalanced(self):
        with self.assertRaisesRegex(ValueError, 'unterminated'):
            resolve_conditionals('#ifdef FAKE_IOMMU_A\n',
                                 {'FAKE_IOMMU_A': True})
        with self.assertRaisesRegex(ValueError, 'without #if'):
            resolve_conditionals('#endif\n', {})

    def test_no_blank_line_left_before_a_closing_brace(self):
        text = ('{\n\tint a;\n\n#ifdef FAKE_IOMMU_A\n\tint b;\n#endif\n'
                '}\n')
        self.assertEqual(resolve_conditionals(text, {'FAKE_IOMMU_A': False}),
                         '{\n\tint a;\n}\n')


class InvariantRefsTest(unittest.TestCase):

    def test_strips_the_parenthesised_forms(self):
        text = ('/* A new mm gets the lowest free PASID (I1). */\n'
                ' * before free (I2, I9), and the rest (I1-I13).\n')
        self.assertEqual(strip_invariant_refs(text, 'f.c'),
                         '/* A new mm gets the lowest free PASID. */\n'
                         ' * before free, and the rest.\n')

    def test_any_other_form_is_refused(self):
        for text in ('/* I1: a new mm */', '/* (I2, I9: order) */',
                     '/* see I12 */'):
            with self.subTest(text=text), \
                    self.assertRaisesRegex(ValueError, 'f.c:1: invariant'):
                strip_invariant_refs(text, 'f.c')


class KbuildTextTest(unittest.TestCase):

    def test_makefile_keeps_spdx_and_obj_lines(self):
        text = ('# SPDX-License-Identifier: GPL-2.0\ninclude x.mk\n'
                'ccflags-y += $(f)\nobj-$(CONFIG_A) += a.o\n')
        self.assertEqual(source_text.makefile_obj_lines(text),
                         '# SPDX-License-Identifier: GPL-2.0\n'
                         'obj-$(CONFIG_A) += a.o\n')

    def test_kconfig_entries(self):
        head, entries = kconfig_entries(
            '# SPDX\nconfig A\n\tbool\n\nconfig B\n\tbool "b"\n\t  help\n')
        self.assertEqual(head, '# SPDX\n')
        self.assertEqual(entries, {'A': 'config A\n\tbool\n',
                                   'B': 'config B\n\tbool "b"\n\t  help\n'})


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
