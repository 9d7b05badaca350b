import io
import json
import os
import tempfile
import unittest

from ..errors import SetupError
from ..testing_support import DEFAULT_PAYLOAD, make_fake_tree, snapshot, write
from ..tree import fs_journal, installer
from ..tree.fs_journal import TEMP_SUFFIX, repair_mutation
from ..tree.payload import PayloadFile
from . import mutation_journal
from .mutants import Hunk, Mutant, NoApply

SVA = 'drivers/iommu/iommu-sva.c'
# Not valid UTF-8, and a mode the umask would not give: both must survive.
ORIGINAL = b'\tmmgrab(mm);\n\tdomain->mm = mm;\n\xff\xfe\n'
MUTANT = Mutant('no-mmgrab', ('I2',), SVA, 'd',
                (Hunk('\tmmgrab(mm);\n', ''),))


class JournalTest(unittest.TestCase):

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.tree = make_fake_tree(self._tmp.name)
        write(self.tree, SVA, ORIGINAL, 0o604)
        self.path = os.path.join(self.tree, SVA)
        self.before = snapshot(self.tree)
        self.journal = mutation_journal.journal_path(self.tree)

    def read(self):
        with open(self.path, 'rb') as f:
            return f.read()

    def test_apply_then_restore_is_byte_identical(self):
        record = mutation_journal.apply(self.tree, MUTANT)
        self.assertEqual(self.read(), b'\tdomain->mm = mm;\n\xff\xfe\n')
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o604)
        self.assertTrue(os.path.exists(self.journal))
        old_mtime = os.stat(self.path).st_mtime_ns
        mutation_journal.restore(self.tree, record)
        self.assertEqual(snapshot(self.tree), self.before)
        # Newer than the mutant, so make rebuilds the object from it.
        self.assertGreaterEqual(os.stat(self.path).st_mtime_ns, old_mtime)

    @unittest.skipUnless(os.geteuid() == 0, 'only root can chown')
    def test_owner_survives_apply_restore_and_repair(self):
        os.chown(self.path, 4242, 4343)
        owner = (4242, 4343)
        record = mutation_journal.apply(self.tree, MUTANT)
        self.assertEqual(fs_journal.owner_of(self.path), owner)
        mutation_journal.restore(self.tree, record)
        self.assertEqual(fs_journal.owner_of(self.path), owner)
        mutation_journal.apply(self.tree, MUTANT)
        repair_mutation(self.tree, io.StringIO())
        self.assertEqual(fs_journal.owner_of(self.path), owner)
        self.assertEqual(snapshot(self.tree), self.before)

    def test_a_source_file_outside_the_tree_is_refused(self):
        outside = tempfile.TemporaryDirectory()
        self.addCleanup(outside.cleanup)
        elsewhere = os.path.join(outside.name, 'elsewhere.c')
        with open(elsewhere, 'wb') as f:
            f.write(ORIGINAL)
        os.unlink(self.path)
        os.symlink(elsewhere, self.path)
        before = snapshot(self.tree)
        with self.assertRaisesRegex(SetupError, 'leads out of the tree'):
            mutation_journal.apply(self.tree, MUTANT)
        self.assertEqual(snapshot(self.tree), before)
        with open(elsewhere, 'rb') as f:
            self.assertEqual(f.read(), ORIGINAL)

    def test_no_apply_changes_nothing(self):
        bad = Mutant('m', ('I1',), SVA, 'd', (Hunk('\tmmgrab(mm);\n', ''),
                                             Hunk('absent', 'x')))
        with self.assertRaisesRegex(NoApply, 'hunk 2 of 2'):
            mutation_journal.apply(self.tree, bad)
        missing = Mutant('m', ('I1',), 'kernel/exit.c', 'd', (Hunk('a', ''),))
        with self.assertRaisesRegex(NoApply, 'does not exist'):
            mutation_journal.apply(self.tree, missing)
        self.assertEqual(snapshot(self.tree), self.before)

    def test_repair_after_a_crash(self):
        mutation_journal.apply(self.tree, MUTANT)  # ... and then SIGKILL
        write(self.tree, SVA + '.abcd1234' + TEMP_SUFFIX, b'half')  # killed
        out = io.StringIO()
        self.assertEqual(repair_mutation(self.tree, out), [SVA])
        self.assertEqual(out.getvalue(), f'sva-kunit: repaired {SVA} left '
                         'mutated by an interrupted mutate run\n')
        self.assertEqual(snapshot(self.tree), self.before)
        self.assertEqual(repair_mutation(self.tree, out), [])

    def test_repair_when_killed_before_or_after_the_source_write(self):
        mutation_journal.apply(self.tree, MUTANT)
        write(self.tree, SVA, ORIGINAL, 0o604)  # restored, journal left
        repair_mutation(self.tree, io.StringIO())
        self.assertEqual(snapshot(self.tree), self.before)
        # Killed while writing the journal: only its temp file is there.
        write(self.tree, mutation_journal.Mutation.NAME + '.q_9z8y7x'
              + TEMP_SUFFIX, b'[{"path"')
        self.assertEqual(repair_mutation(self.tree, io.StringIO()), [])
        self.assertEqual(snapshot(self.tree), self.before)

    def test_refuses_when_someone_else_changed_the_file(self):
        mutation_journal.apply(self.tree, MUTANT)
        write(self.tree, SVA, b'my own edit\n', 0o604)
        changed = snapshot(self.tree)
        for dry_run in (True, False):
            with self.assertRaisesRegex(SetupError, 'was changed by someone '
                                        'else .* left as it is'):
                repair_mutation(self.tree, io.StringIO(), dry_run)
            self.assertEqual(snapshot(self.tree), changed)
        os.unlink(self.path)
        with self.assertRaises(SetupError):
            repair_mutation(self.tree, io.StringIO())

    def test_dry_run_only_says_so(self):
        mutation_journal.apply(self.tree, MUTANT)
        mutated = snapshot(self.tree)
        out = io.StringIO()
        repair_mutation(self.tree, out, dry_run=True)
        self.assertIn('would repair', out.getvalue())
        self.assertEqual(snapshot(self.tree), mutated)

    def test_unreadable_journal(self):
        write(self.tree, mutation_journal.Mutation.NAME, b'{"entries": []}')
        with self.assertRaisesRegex(SetupError, 'is unreadable'):
            repair_mutation(self.tree, io.StringIO())

    def test_journal_naming_a_file_out_of_the_tree_is_refused(self):
        other = tempfile.TemporaryDirectory()
        self.addCleanup(other.cleanup)
        outside = os.path.join(other.name, 'outside')
        write(outside, 'victim.c', b'precious\n')
        os.symlink(outside, os.path.join(self.tree, 'drivers/link'))
        mutation_journal.apply(self.tree, MUTANT)
        with open(self.journal) as f:
            text = f.read()
        for rel in ('../outside/victim.c', outside + '/victim.c',
                    'drivers/link/victim.c'):
            write(self.tree, mutation_journal.Mutation.NAME, text.replace(
                json.dumps(SVA), json.dumps(rel)).encode())
            before = snapshot(self.tree), snapshot(other.name)
            with self.assertRaisesRegex(SetupError, 'is unreadable .*'
                                        + rel.replace('.', r'\.')):
                repair_mutation(self.tree, io.StringIO())
            self.assertEqual((snapshot(self.tree), snapshot(other.name)),
                             before)

    def test_journal_does_not_bother_the_installer(self):
        payload = {rel: PayloadFile(data, 0o644)
                   for rel, data in DEFAULT_PAYLOAD.items()}
        installer.sync(self.tree, payload)
        mutation_journal.apply(self.tree, MUTANT)
        self.assertTrue(os.path.exists(self.journal))
        # Neither a foreign file nor a modified one to the installer.
        self.assertFalse(installer.plan_sync(self.tree, payload).actions)
        installer.plan_sync(self.tree, {})


if __name__ == '__main__':
    unittest.main()
