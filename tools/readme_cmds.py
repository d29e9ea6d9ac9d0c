#!/usr/bin/env python3
"""Print one of the README's two set-up commands, so CI runs exactly what the README says.
The README's "## Set up" section holds exactly two ```sh blocks: the main job first, then the tests.
Usage: python3 tools/readme_cmds.py main|test [README.md]"""
import re, sys
from pathlib import Path

def readme_commands(text:str)->dict:
    "The {'main','test'} commands from the `## Set up` section of a README's text."
    m = re.search(r'^## Set up\s*$(.*?)(?=^## |\Z)', text, re.M | re.S)
    if not m: raise ValueError('README has no "## Set up" section')
    blocks = re.findall(r'^```(?:sh|bash)\s*\n(.*?)^```', m.group(1), re.M | re.S)
    if len(blocks) != 2: raise ValueError(f'"## Set up" must hold exactly two sh blocks, found {len(blocks)}')
    return dict(zip(('main', 'test'), (b.strip() for b in blocks)))

if __name__ == '__main__':
    which = sys.argv[1] if len(sys.argv) > 1 else 'test'
    path = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[1]/'README.md'
    print(readme_commands(path.read_text(encoding='utf-8'))[which])
