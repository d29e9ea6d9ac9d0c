#!/usr/bin/env python3
"""Write README.md from nbs/index.ipynb without Quarto (which cannot be installed here).
Cells marked `#| hide` are dropped, `#|` directives removed, outputs kept as text; nbconvert's markdown exporter
does the rest. `--check` exits 1 (and says so) when README.md differs from what index.ipynb gives."""
import sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]

def readme_text(nb_path=ROOT/'nbs'/'index.ipynb')->str:
    nb = nbformat.read(nb_path, as_version=4)
    cells = []
    for c in nb.cells:
        lines = c.source.splitlines()
        directives = [l for l in lines if l.startswith('#|')]
        if any(d.replace(' ', '') in ('#|hide', '#|include:false') for d in directives): continue
        if c.cell_type == 'code':
            c.source = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
            c.outputs = [o for o in c.get('outputs', []) if o.get('output_type') == 'stream' or 'text/plain' in o.get('data', {})]
            for o in c.outputs:
                if 'data' in o: o['data'] = {'text/plain': o['data']['text/plain']}
        cells.append(c)
    nb.cells = cells
    body, _ = MarkdownExporter().from_notebook_node(nb)
    head = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n'
    return head + body.strip() + '\n'

if __name__ == '__main__':
    new, out = readme_text(), ROOT/'README.md'
    if '--check' in sys.argv:
        if out.read_text(encoding='utf-8') != new:
            sys.exit('README.md is stale: run `python tools/make_readme.py` (it is generated from nbs/index.ipynb)')
        print('README.md matches nbs/index.ipynb')
    else:
        out.write_text(new, encoding='utf-8'); print(f'wrote {out}')
