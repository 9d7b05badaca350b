import re
import unittest

from . import manifest as hooks
from .manifest import Hook

KCONFIG = (b'if IOMMU_SUPPORT\nconfig A\n\tbool\nendif # IOMMU_SUPPORT\n'
           b'if X\nendif # IOMMU_SUPPORT\n')
SOURCE = Hook('drivers/iommu/Kconfig', ('source "x/Kconfig"',),
              'endif # IOMMU_SUPPORT')
OBJ = Hook('drivers/iommu/Makefile', ('obj-y += a/', 'obj-y += b.o'))


def remove(hook: Hook, content: bytes, added_newline: bool) -> bytes:
    return hooks.remove_hook(hook.lines, content, added_newline)


class HooksTest(unittest.TestCase):

    def test_table_matches_the_projects_hooks(self):
        by_path = {h.path: h for h in hooks.HOOKS}
        self.assertEqual(by_path['drivers/iommu/Kconfig'].lines,
                         ('source "drivers/iommu/fake-iommu/Kconfig"',))
        self.assertEqual(by_path['drivers/iommu/Kconfig'].anchor,
                         'endif # IOMMU_SUPPORT')
        self.assertEqual(by_path['drivers/iommu/Makefile'].lines,
                         ('obj-$(CONFIG_FAKE_IOMMU) += fake-iommu/',
                          'include $(srctree)/drivers/iommu/fake-iommu/'
                          'compat.mk',
                          'CFLAGS_iommu-sva-model-test.o += '
                          '$(fake_iommu_compat_flags)',
                          'CFLAGS_iommu-sva-test.o += '
                          '$(fake_iommu_compat_flags)',
                          'CFLAGS_iommu-sva-leak-test.o += '
                          '$(fake_iommu_compat_flags)',
                          'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += '
                          'iommu-sva-test.o',
                          'obj-$(CONFIG_IOMMU_SVA_KUNIT_TEST) += '
                          'iommu-sva-model-test.o',
                          'obj-$(CONFIG_IOMMU_SVA_KUNIT_LEAK_TEST) += '
                          'iommu-sva-leak-test.o'))

    def test_inserts_before_last_anchor_and_removes_again(self):
        installed, added = hooks.apply_hook(SOURCE, KCONFIG)
        self.assertFalse(added)
        self.assertTrue(installed.endswith(
            b'if X\nsource "x/Kconfig"\nendif # IOMMU_SUPPORT\n'))
        self.assertEqual(remove(SOURCE, installed, added), KCONFIG)

    def test_anchor_with_trailing_blanks_still_matches(self):
        installed, _ = hooks.apply_hook(SOURCE, b'endif # IOMMU_SUPPORT  \n')
        self.assertEqual(installed, b'source "x/Kconfig"\n'
                         b'endif # IOMMU_SUPPORT  \n')

    def test_missing_anchor(self):
        with self.assertRaises(ValueError):
            hooks.apply_hook(SOURCE, b'config A\n')

    def test_append_handles_missing_final_newline(self):
        for original in (b'obj-y += z.o\n', b'obj-y += z.o', b''):
            installed, added = hooks.apply_hook(OBJ, original)
            self.assertTrue(installed.endswith(b'obj-y += a/\nobj-y += b.o\n'))
            self.assertEqual(remove(OBJ, installed, added),
                             original)

    def test_remove_keeps_everything_but_the_hook_lines(self):
        installed, added = hooks.apply_hook(OBJ, b'x\n')
        for edited, original in (
                (installed + b'y\n', b'x\ny\n'),
                (b'w\n' + installed, b'w\nx\n'),
                (installed.replace(b'a/\n', b'a/\nmine\n'), b'x\nmine\n'),
                (b'obj-y += a/\nobj-y += b.o\nx\n', b'x\n')):
            self.assertEqual(remove(OBJ, edited, added), original)
        installed, added = hooks.apply_hook(OBJ, b'z')  # no final newline
        self.assertTrue(added)
        self.assertEqual(remove(OBJ, installed, added), b'z')
        self.assertEqual(remove(OBJ, installed + b'w\n', added),
                         b'z\nw\n')
        installed, added = hooks.apply_hook(SOURCE, KCONFIG)
        self.assertEqual(remove(
            SOURCE, b'# mine\n' + installed.replace(b'if X\n', b''), added),
            b'# mine\n' + KCONFIG.replace(b'if X\n', b''))

    def test_remove_detects_changed_missing_or_doubled_lines(self):
        installed, added = hooks.apply_hook(OBJ, b'x\n')
        for edited, why in (
                (installed.replace(b'b.o', b'c.o'),
                 re.escape("'obj-y += b.o' is gone")),
                (installed.replace(b'obj-y += a/\n', b''), 'is gone'),
                (installed.replace(b'obj-y += b.o\n', b'q\nobj-y += b.o\n'
                                   b'obj-y += b.o\n'), 'appears 2 times')):
            with self.assertRaisesRegex(ValueError, why):
                remove(OBJ, edited, added)
        with self.assertRaises(ValueError):
            remove(SOURCE, KCONFIG, False)


if __name__ == '__main__':
    unittest.main()


class HookTableTest(unittest.TestCase):

    def test_the_journals_know_every_hooked_file(self):
        from .fs_journal import HOOKED
        from .manifest import HOOKS
        self.assertEqual({hook.path for hook in HOOKS}, set(HOOKED))

