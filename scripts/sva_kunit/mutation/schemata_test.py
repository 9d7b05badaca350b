"""Mutant schemata: which mutants can be switched, and that the switched
file compiles and runs each variant by its number (with the host's gcc,
the kernel's parameter machinery stubbed)."""

import os
import shutil
import subprocess
import tempfile
import unittest

from . import schemata
from .mutants import Hunk, Mutant

SOURCE = b'''// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>

static int counter;

static int twice(int x)
{
\tint ret = 0;

\tif (x < 0)
\t\tgoto out;
\tret = x * 2;
out:
\treturn ret;
}

static void bump(void)
{
\tswitch (counter) {
\tcase 0:
\t\tcounter++;
\t\tbreak;
\tdefault:
\t\tbreak;
\t}
}

#include <string.h>

int main(int argc, char **argv)
{
\tchar *arg = argc > 1 ? argv[1] : "";

\tif (strncmp(arg, "sva_kunit_mutant=", 17) == 0)
\t\tsva_kunit_mutant_setup(arg + 17);
\tbump();
\tprintf("%d %d\\n", twice(3), counter);
\treturn 0;
}
'''
# What the kernel gives the selector, for a program of the host.
STUBS = b'''#include <stdlib.h>
#define __ro_after_init
#define __init
#define early_param(name, fn) int (*early_fn)(char *) = fn
static int kstrtoint(const char *s, int base, int *res)
{
\t*res = atoi(s);
\treturn 0;
}
'''


def mutant(name: str, find: bytes, replace: bytes) -> Mutant:
    return Mutant(name, ('I1',), 'x.c', 'd',
                  (Hunk(find.decode(), replace.decode()),))


THRICE = mutant('thrice', b'\tret = x * 2;\n', b'\tret = x * 3;\n')
SKIP = mutant('skip', b'\tret = x * 2;\n', b'\tgoto out;\n\tret = x * 2;\n')
NO_BUMP = mutant('no-bump', b'\t\tcounter++;\n', b'')
GLOBAL = mutant('global', b'static int counter;\n',
                b'static int counter = 5;\n')
MISFIT = mutant('misfit', b'not there\n', b'')
# A static local of the mutant's own: only its copy of the body uses it.
STATEFUL = mutant('stateful', b'\tret = x * 2;\n',
                  b'\t{\n\t\tstatic int calls;\n\n'
                  b'\t\tret = x * 2 + 10 * ++calls;\n\t}\n')


class SchemataTest(unittest.TestCase):

    def test_bodies_are_the_insides_of_functions(self):
        spans = schemata.bodies(SOURCE)
        self.assertEqual(len(spans), 3)
        inside = SOURCE[spans[1][0]:spans[1][1]]
        self.assertTrue(inside.startswith(b'\tswitch (counter) {\n'))

    def test_what_can_be_switched(self):
        plan, misfits = schemata.plan(
            {'x.c': SOURCE}, [THRICE, GLOBAL, SKIP, MISFIT, NO_BUMP])
        self.assertEqual(plan.numbers, {'thrice': 1, 'skip': 2,
                                        'no-bump': 3})
        self.assertEqual(list(plan.fallback), ['global'])
        self.assertIn('outside a function body', plan.fallback['global'])
        self.assertEqual(list(misfits), ['misfit'])
        text = plan.files['x.c']
        # Both mutants of twice() in one chain, before the original, and
        # their labels renamed so that the function still compiles.
        self.assertIn(b'\tif (sva_kunit_mutant == 1) {\n', text)
        self.assertIn(b'\t} else if (sva_kunit_mutant == 2) {\n', text)
        self.assertIn(b'\tgoto out__sva_mutant_2;\n', text)
        self.assertIn(b'out__sva_mutant_2:\n', text)
        # A switch's default is no label.
        self.assertNotIn(b'default__sva', text)
        self.assertEqual(text.count(b'\tdefault:\n'), 2)
        # The selector comes after the includes before the first
        # function, not after a later one.
        self.assertLess(text.index(b'early_param('), text.index(b'twice('))
        self.assertGreater(text.index(b'early_param('),
                           text.index(b'<stdlib.h>'))

    def test_a_static_local_is_not_duplicated(self):
        source = SOURCE.replace(b'\t\tcounter++;\n',
                                b'\t\tstatic int calls;\n\n\t\tcalls++;\n')
        plan, _ = schemata.plan({'x.c': source}, [
            mutant('m', b'\t\tcalls++;\n', b'')])
        self.assertIn('static local variable', plan.fallback['m'])
        plan, _ = schemata.plan({'x.c': SOURCE}, [STATEFUL])
        self.assertEqual((plan.numbers, plan.fallback), ({'stateful': 1}, {}))

    def test_labels_reached_otherwise_than_by_goto_are_not_renamed(self):
        for name, source in (
                ('macro', b'#define BAIL(x) do { if (x) goto out; } '
                 b'while (0)\n' + SOURCE),
                ('address', SOURCE.replace(b'\tret = x * 2;\n',
                                           b'\tret = x * 2;\n\tp = &&out;\n'
                                           ).replace(b'#include <stdio.h>',
                                                     b'#include <stdio.h>\n'
                                                     b'static void *p;')),
                ('statement after', SOURCE.replace(b'out:\n\treturn ret;',
                                                   b'out:\treturn ret;'))):
            with self.subTest(name=name):
                plan, _ = schemata.plan({'x.c': source}, [THRICE])
                self.assertIn('thrice', plan.fallback)

    def test_no_body_where_the_braces_do_not_say_so(self):
        # A struct opened like a function, a body closed with a comment:
        # neither is cut as a body (and a mutant there is patched).
        source = (b'#include <x.h>\nstruct s\n{\n\tint a;\n};\n'
                  b'static int f(void)\n{\n\treturn 1;\n}\t/* f */\n'
                  b'static int g(void)\n{\n\treturn 2;\n}\n')
        self.assertEqual(schemata.bodies(source), [])

    def test_the_selector_is_outside_any_if(self):
        source = SOURCE.replace(b'#include <stdlib.h>\n',
                                b'#include <stdlib.h>\n#ifdef X\n'
                                b'#include <x.h>\n#endif\n')
        plan, _ = schemata.plan({'x.c': source}, [THRICE])
        text = plan.files['x.c']
        self.assertLess(text.index(b'static int sva_kunit_mutant'),
                        text.index(b'#ifdef X'))

    @unittest.skipUnless(shutil.which('gcc'), 'needs gcc')
    def test_each_number_runs_its_mutant_and_none_the_original(self):
        plan, _ = schemata.plan({'x.c': SOURCE},
                                [THRICE, SKIP, NO_BUMP, STATEFUL])
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in (('x.c', plan.files['x.c']),
                               ('stubs.h', STUBS)):
                with open(os.path.join(tmp, name), 'wb') as f:
                    f.write(data)
            binary = os.path.join(tmp, 'x')
            subprocess.run(['gcc', '-Wall', '-Werror', '-include',
                            os.path.join(tmp, 'stubs.h'), '-o', binary,
                            os.path.join(tmp, 'x.c')], check=True,
                           capture_output=True)
            runs = {n: subprocess.run(
                [binary, f'sva_kunit_mutant={n}'], capture_output=True,
                text=True, check=True).stdout for n in range(5)}
        self.assertEqual(runs, {0: '6 1\n', 1: '9 1\n', 2: '0 1\n',
                                3: '6 0\n', 4: '16 1\n'})


if __name__ == '__main__':
    unittest.main()
