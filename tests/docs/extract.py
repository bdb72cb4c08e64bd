#!/usr/bin/env python3
"""Extracts the runnable code of the README and docs/ into programs the test
command builds and runs, so the documentation cannot drift from the code.

Markers (HTML comments, invisible on GitHub) before a fenced block:
  <!-- doctest: NAME -->             the next ```cpp block goes into main() of program NAME
  <!-- doctest: NAME top -->         the next ```cpp block goes at file scope
  <!-- doctest: NAME program -->     the next ```cpp block is a whole program
  <!-- doctest: NAME file PATH -->   the next fenced block is written to PATH in the run directory
Hidden code, for set-up the reader does not need to see:
  <!-- doctest: NAME hidden [top]
  code
  -->
  <!-- doctest: NAME file PATH
  file content
  -->
Blocks of one program are joined in the order the document shows them. The
output directory gets NAME.cpp, NAME.files/… and programs.cmake (the list).
"""
import os
import re
import sys

MARK = re.compile(r'^<!--\s*doctest:\s*(\S+)(?:\s+(top|program|hidden|file))?(?:\s+(.*?))?\s*(-->)?\s*$')


def extract(path, programs):
    lines = open(path, encoding='utf-8').read().split('\n')
    i = 0
    pending = None
    while i < len(lines):
        line = lines[i]
        m = MARK.match(line)
        if m:
            name, kind, arg, closed = m.group(1), m.group(2) or 'main', m.group(3), m.group(4)
            prog = programs.setdefault(name, {'top': [], 'main': [], 'program': None, 'files': {}, 'source': path})
            if kind == 'hidden' or (kind == 'file' and not closed):
                body = []
                i += 1
                while i < len(lines) and lines[i].strip() != '-->':
                    body.append(lines[i])
                    i += 1
                if kind == 'file':  # a file the reader need not see
                    prog['files'][arg] = '\n'.join(body) + '\n'
                else:
                    prog['top' if (arg or '').strip() == 'top' else 'main'].append('\n'.join(body))
            else:
                pending = (prog, kind, arg)
            i += 1
            continue
        if pending and line.startswith('```'):
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith('```'):
                body.append(lines[i])
                i += 1
            prog, kind, arg = pending
            text = '\n'.join(body)
            where = '#line %d "%s"\n' % (i - len(body) + 1, os.path.abspath(path))
            if kind == 'file':
                prog['files'][arg] = text + '\n'
            elif kind == 'program':
                prog['program'] = where + text
            else:
                prog[kind].append(where + text)
            pending = None
        i += 1


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    programs = {}
    for path in sys.argv[2:]:
        extract(path, programs)
    manifest = []
    for name, p in sorted(programs.items()):
        if p['program']:
            code = p['program'] + '\n'
        else:
            code = ('#include <cstdio>\n#include <exception>\n#include <plexus/plexus.hpp>\n\n' + '\n\n'.join(p['top']) +
                    '\n\nint main() {\n  try {\n' + '\n'.join(p['main']) +
                    '\n  } catch (const std::exception& e) {\n    std::fprintf(stderr, "%s\\n", e.what());\n'
                    '    return 1;\n  }\n  return 0;\n}\n')
        target = os.path.join(out, name + '.cpp')
        old = open(target, encoding='utf-8').read() if os.path.exists(target) else None
        if old != code:  # unchanged programs keep their timestamp: no rebuild
            open(target, 'w', encoding='utf-8').write(code)
        files = os.path.join(out, name + '.files')
        os.makedirs(files, exist_ok=True)
        for rel, text in p['files'].items():
            full = os.path.join(files, rel)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            open(full, 'w', encoding='utf-8').write(text)
        manifest.append('plexus_doc_program(%s "%s")' % (name, p['source']))
    open(os.path.join(out, 'programs.cmake'), 'w').write('\n'.join(manifest) + '\n')


if __name__ == '__main__':
    main()
