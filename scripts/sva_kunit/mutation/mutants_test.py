import os
import tempfile
import unittest

from ..errors import SetupError
from ..testing_support import write
from ..tree.payload import default_repo_root
from . import mutants
from .mutants import Hunk, NoApply, parse_mutant

SIMPLE = '''Name: no-grab
Trees: 6.12 7.3
Invariant: I2, I9
Fix: 0123456789ab
File: drivers/iommu/iommu-sva.c
Description: delete mmgrab(mm)
@@ find
\tmmgrab(mm);
\tdomain->mm = mm;
@@ replace
\tdomain->mm = mm;
'''


class ParseTest(unittest.TestCase):

    def test_header_and_verbatim_hunk(self):
        m = parse_mutant(SIMPLE, 'x.mutant')
        self.assertEqual((m.name, m.invariants, m.fix, m.file, m.survivor,
                          m.trees),
                         ('no-grab', ('I2', 'I9'), '0123456789ab',
                          'drivers/iommu/iommu-sva.c', '', ('6.12', '7.3')))
        self.assertEqual(m.hunks, (Hunk('\tmmgrab(mm);\n\tdomain->mm = mm;\n',
                                        '\tdomain->mm = mm;\n'),))

    def test_several_hunks_empty_replace_and_no_final_newline(self):
        text = SIMPLE + ('@@ find\na\n\n@@ replace\n@@ find\nb\x0cc\n'
                         '@@ replace\nd')
        m = parse_mutant(text, 'x.mutant')
        self.assertEqual(m.hunks[1:], (Hunk('a\n\n', ''),
                                       Hunk('b\x0cc\n', 'd')))

    def test_survivor(self):
        m = parse_mutant(SIMPLE.replace('Fix: 0123456789ab\n',
                                        'Survivor: unreachable\n'), 'x')
        self.assertEqual((m.fix, m.survivor), ('', 'unreachable'))

    def test_cpus(self):
        self.assertEqual(parse_mutant(SIMPLE, 'x').cpus, 1)
        m = parse_mutant(SIMPLE.replace('Fix: 0123456789ab\n', 'Cpus: 2\n'),
                         'x')
        self.assertEqual(m.cpus, 2)
        self.assert_malformed(SIMPLE.replace('Fix: 0123456789ab\n',
                                             'Cpus: 4\n'),
                              "Cpus: '4' is not 1 or 2")

    def assert_malformed(self, text, message):
        with self.assertRaises(SetupError) as cm:
            parse_mutant(text, 'mutants/01-x.mutant')
        self.assertIn(message, str(cm.exception))
        self.assertIn('mutants/01-x.mutant:', str(cm.exception))

    def test_malformed(self):
        self.assert_malformed(SIMPLE.replace('Name: no-grab\n', ''),
                              'missing header Name:')
        self.assert_malformed(SIMPLE.replace('Invariant: I2, I9',
                                             'Invariant: 2'),
                              "'2' is not of the form I<number>")
        self.assert_malformed(SIMPLE.replace('@@ replace\n', ''),
                              'has no "@@ replace"')
        self.assert_malformed(SIMPLE.split('@@ find')[0], 'no hunk')
        self.assert_malformed('Colour: red\n' + SIMPLE, 'not a header line')
        self.assert_malformed(SIMPLE.replace('File: drivers',
                                             'File: ../drivers'),
                              'not a plain path')
        self.assert_malformed(SIMPLE.replace('@@ find\n\tmmgrab(mm);\n'
                                             '\tdomain->mm = mm;\n',
                                             '@@ find\n'), 'finds nothing')
        self.assert_malformed(SIMPLE + '@@ replace\nx\n',
                              '"@@ replace" where hunk 2 needs "@@ find"')
        self.assert_malformed('Name: a\nName: b\n' + SIMPLE, 'given twice')
        self.assert_malformed(SIMPLE.replace('Trees: 6.12 7.3\n', ''),
                              'missing header Trees:')
        self.assert_malformed(SIMPLE.replace('Trees: 6.12 7.3', 'Trees: v7'),
                              "'v7' is not a kernel series")


class MutateTest(unittest.TestCase):

    def mutant(self, *hunks):
        return mutants.Mutant('m', ('I1',), 'f.c', 'd',
                              tuple(Hunk(f, r) for f, r in hunks))

    def test_applies_hunks_in_order(self):
        data = b'one\ntwo\nthree\n'
        m = self.mutant(('two\n', ''), ('one\nthree', 'THREE'))
        self.assertEqual(mutants.mutate(data, m), b'THREE\n')

    def test_missing_or_repeated_find_text(self):
        with self.assertRaisesRegex(NoApply, r"hunk 2 of 2 \('x'\) not "
                                    'found in f.c'):
            mutants.mutate(b'a\n', self.mutant(('a', 'b'), ('x', 'y')))
        with self.assertRaisesRegex(NoApply, 'found more than once'):
            mutants.mutate(b'aa\naa\n', self.mutant(('aa\n', '')))
        with self.assertRaisesRegex(NoApply, 'found more than once'):
            mutants.mutate(b'aaa', self.mutant(('aa', '')))  # overlapping


class CatalogueTest(unittest.TestCase):

    def test_the_real_catalogue(self):
        catalogue = mutants.load_catalogue(default_repo_root())
        for series in ('6.12', '7.3'):
            names = [m.name for m in
                     mutants.load_catalogue(default_repo_root(), series)]
            self.assertGreaterEqual(len(names), 30, series)
            self.assertEqual(len(names), len(set(names)), series)
        for m in catalogue:
            self.assertTrue(m.invariants and m.file and m.hunks, m.name)
            for hunk in m.hunks:
                self.assertNotEqual(hunk.find, hunk.replace, m.name)
            for invariant in m.invariants:
                self.assertIn(int(invariant[1:]), range(1, 18), m.name)
        self.assertTrue(any(m.survivor for m in catalogue))

    def test_name_must_match_file_and_be_unique(self):
        with tempfile.TemporaryDirectory() as repo:
            write(repo, 'mutants/01-other.mutant', SIMPLE.encode())
            with self.assertRaisesRegex(SetupError, 'does not match the file'):
                mutants.load_catalogue(repo)
            os.rename(os.path.join(repo, 'mutants/01-other.mutant'),
                      os.path.join(repo, 'mutants/01-no-grab.mutant'))
            self.assertEqual(len(mutants.load_catalogue(repo)), 1)
            write(repo, 'mutants/02-no-grab.mutant', SIMPLE.encode())
            with self.assertRaisesRegex(SetupError, 'no-grab on 6.12 is also'):
                mutants.load_catalogue(repo)

    def test_one_file_per_tree(self):
        with tempfile.TemporaryDirectory() as repo:
            write(repo, 'mutants/01-no-grab.mutant',
                  SIMPLE.replace('6.12 7.3', '6.12').encode())
            write(repo, 'mutants/01-no-grab.7.3.mutant',
                  SIMPLE.replace('6.12 7.3', '7.3').encode())
            self.assertEqual(len(mutants.load_catalogue(repo)), 2)
            [old] = mutants.load_catalogue(repo, '6.12')
            [new] = mutants.load_catalogue(repo, '7.3')
            self.assertEqual((old.trees, new.trees), (('6.12',), ('7.3',)))
            write(repo, 'mutants/01-no-grab.7.3.mutant',
                  SIMPLE.replace('6.12 7.3', '7.3')
                  .replace('\tmmgrab(mm);\n\tdomain', '\tNEW;\n\tdomain')
                  .encode())
            both = mutants.load_catalogue(repo)
            [new] = mutants.load_catalogue(repo, '7.3')
            files = {'old': b'\tmmgrab(mm);\n\tdomain->mm = mm;\n',
                     'new': b'\tNEW;\n\tdomain->mm = mm;\n',
                     'none': b'nothing here'}
            for text, want in (('old', old), ('new', new), ('none', new)):
                write(repo, 'drivers/iommu/iommu-sva.c', files[text])
                self.assertEqual(mutants.fitting(both, repo), [want], text)
            write(repo, 'mutants/01-no-grab.7.3.mutant', SIMPLE.encode())
            with self.assertRaisesRegex(SetupError, 'must be just 7.3'):
                mutants.load_catalogue(repo)

    def test_correct_variants_beside_the_mutants(self):
        with tempfile.TemporaryDirectory() as repo:
            write(repo, 'mutants/01-no-grab.mutant', SIMPLE.encode())
            write(repo, 'variants/01-other.variant',
                  SIMPLE.replace('no-grab', 'other').encode())
            loaded = mutants.load_catalogue(repo)
            self.assertEqual([(m.name, m.correct) for m in loaded],
                             [('no-grab', False), ('other', True)])
            write(repo, 'variants/01-other.variant', SIMPLE.encode())
            with self.assertRaisesRegex(
                    SetupError, r'01-other.variant:1: .*NN-<name>\[.<tree>'
                    r'\].variant'):
                mutants.load_catalogue(repo)
            os.rename(os.path.join(repo, 'variants/01-other.variant'),
                      os.path.join(repo, 'variants/01-no-grab.variant'))
            with self.assertRaisesRegex(SetupError, 'no-grab on 6.12 is '
                                        'also in mutants/01-no-grab'):
                mutants.load_catalogue(repo)

    def test_the_real_variants(self):
        for series in ('6.12', '7.3'):
            names = [m.name for m in mutants.load_catalogue(
                default_repo_root(), series) if m.correct]
            self.assertGreaterEqual(len(names), 3, series)

    def test_missing_catalogue(self):
        with tempfile.TemporaryDirectory() as repo:
            with self.assertRaisesRegex(SetupError, r'no \*\.mutant files'):
                mutants.load_catalogue(repo)

    def test_select(self):
        catalogue = mutants.load_catalogue(default_repo_root(), '7.3')
        picked = mutants.select(catalogue, ['no-mmdrop', 'no-mmgrab'])
        self.assertEqual([m.name for m in picked], ['no-mmgrab', 'no-mmdrop'])
        self.assertEqual(mutants.select(catalogue, []), catalogue)
        with self.assertRaisesRegex(SetupError, 'no mutant named x; see'):
            mutants.select(catalogue, ['x'])


if __name__ == '__main__':
    unittest.main()
