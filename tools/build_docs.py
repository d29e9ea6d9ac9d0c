#!/usr/bin/env python3
"""Build the docs site offline: nbdev's notebook processing, then smalldocs, then local widget and maths assets.

Where Quarto is installed, `nbdev_docs` is the way (it renders the same `nbs/` Quarto project). Quarto cannot be
installed on the machines this project is built on, so this script does the same work without it:

1. nbdev's own processing of every notebook into `_proc/` (`nbdev.serve.proc_nbs`: front matter, hidden cells
   removed, `show_doc` API docs rendered, links to the API); the pieces of `nbdev_docs` minus `_ensure_quarto`
   (which would try to install Quarto with sudo and curl) and minus `refresh_quarto_yml` (which rewrites
   `nbs/nbdev.yml`). Nothing in `nbs/` is written.
2. A staging copy in `_build/docs_src/`: each page renamed to its `output-file` (`00_core` -> `core.html`, as
   Quarto names it), a `sidebar.yml` listing every page in notebook order (nbdev_sidebar's layout), and each
   widget output turned into the `<script type="application/vnd.jupyter.widget-view+json">` tag that
   `@jupyter-widgets/html-manager` renders from the notebook's saved widget state.
3. `smalldocs` renders the staging project into `--out` (default `_docs/`).
4. Post-processing: the saved widget state, require.js and embed-amd.js (local copies, never a CDN), KaTeX from
   a local copy, and nbdev's absolute doc links made relative so the site works from any folder.

The JavaScript comes from npm (`npm pack`, pinned versions) into `_build/npm/`, which is gitignored: the
widget manager alone is 3.6 MB plus fonts, too big to commit, and the registry is reachable wherever this runs.
The build fails (exit 1) on a widget whose state was not saved, a page that links to a CDN, or a sidebar
entry with no page.

Usage: python tools/build_docs.py [--out _docs] [--force] [--workers N]
"""
import argparse, html, json, os, re, shutil, subprocess, sys, tarfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT/'_build'
NPM_PKGS = {'requirejs': '2.3.7', '@jupyter-widgets/html-manager': '1.0.15', 'katex': '0.16.11'}
KATEX_CDN = 'https://cdn.jsdelivr.net/npm/katex@0.16.11/dist'  # what smalldocs 0.5.x writes
VIEW_MIME, STATE_MIME = 'application/vnd.jupyter.widget-view+json', 'application/vnd.jupyter.widget-state+json'
WIDGET_LIB = 'site_libs/jupyter-widgets'

def log(*a): print('build_docs:', *a, flush=True)

# ---------------------------------------------------------------- JavaScript from npm
def npm_package(name:str, version:str, cache:Path=BUILD/'npm')->Path:
    "The unpacked folder of npm package `name@version`, fetched once with `npm pack` into `cache`."
    dst = cache/f"{name.replace('/', '__')}-{version}"
    if (dst/'package.json').exists(): return dst
    npm = shutil.which('npm')
    if not npm: sys.exit(f'build_docs: npm is needed once to fetch {name}@{version} (apt-get install npm), or unpack it into {dst}')
    cache.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([npm, 'pack', f'{name}@{version}', '--silent', '--pack-destination', str(cache)],
                       capture_output=True, text=True)
    if r.returncode: sys.exit(f'build_docs: npm pack {name}@{version} failed:\n{r.stderr}')
    tgz = cache/r.stdout.strip().splitlines()[-1]
    tmp = dst.with_name(dst.name + '.tmp'); shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tgz) as t: t.extractall(tmp, filter='data')
    (tmp/'package').rename(dst); tmp.rmdir(); tgz.unlink()
    return dst

def copy_assets(out:Path):
    "Copy require.js, the widget manager (with its fonts) and KaTeX into the site."
    wl = out/WIDGET_LIB; wl.mkdir(parents=True, exist_ok=True)
    shutil.copy2(npm_package('requirejs', NPM_PKGS['requirejs'])/'require.js', wl/'require.js')
    hm = npm_package('@jupyter-widgets/html-manager', NPM_PKGS['@jupyter-widgets/html-manager'])/'dist'
    for f in hm.iterdir():  # embed-amd.js and the font files its CSS loads from the same folder
        if f.name == 'embed-amd.js' or f.suffix in ('.woff2', '.woff', '.ttf', '.eot', '.svg'): shutil.copy2(f, wl/f.name)
    kx = npm_package('katex', NPM_PKGS['katex'])/'dist'
    shutil.copytree(kx, out/'site_libs/katex', dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns('*.map', '*.mjs', '*.ttf', '*.woff', 'README.md'))

# ---------------------------------------------------------------- nbdev's processing
def nbdev_process(nbs:Path, workers:int, force:bool)->Path:
    "Run the parts of `nbdev_docs` that need no Quarto: the module index and `proc_nbs` into `_proc/`."
    import nbdev.doclinks
    from nbdev.serve import proc_nbs
    # nbdev warns about each cell that mixes imports with code, in every worker; failures still raise below
    os.environ['PYTHONWARNINGS'] = 'ignore:Found cells containing imports'
    nbdev.doclinks._build_modidx()  # what nbdev_export writes too: a no-op when the library is exported
    try: return proc_nbs(nbs, n_workers=workers, force=force)
    except Exception as e:
        sys.exit(f'build_docs: nbdev could not process a notebook: {e}\n'
                 'nbdev runs every cell that holds an import (and every export cell and show_doc) to render the API docs; '
                 'a cell that mixes imports with other code runs without the cells before it. '
                 'Move such imports into the import cell at the top (see the nbdev FAQ).')

def pages(nbs:Path)->list:
    "Every notebook that becomes a page, in nbdev_sidebar's order: index first, then by path; `_` and `.` names skipped."
    found = [p for p in nbs.rglob('*.ipynb') if not any(part.startswith(('_', '.')) for part in p.relative_to(nbs).parts)
             and '.ipynb_checkpoints' not in p.parts]
    return sorted(found, key=lambda p: (p.relative_to(nbs).parent.parts, not p.name.startswith('index.'), p.name))

def front_matter(nb:dict)->dict:
    "The YAML front matter nbdev put in the first raw cell."
    import yaml
    for c in nb['cells'][:2]:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw' and src.strip().startswith('---'):
            return yaml.safe_load(src.strip().strip('-')) or {}
    return {}

def widget_outputs(nb:dict, name:str)->tuple:
    "Turn widget outputs into view script tags; return (state, number of views). Exit on a view with no saved state."
    state = ((nb.get('metadata') or {}).get('widgets') or {}).get(STATE_MIME) or {}
    models, views = state.get('state') or {}, 0
    for c in nb['cells']:
        for o in c.get('outputs', []):
            view = (o.get('data') or {}).get(VIEW_MIME)
            if not view: continue
            if view.get('model_id') not in models:
                sys.exit(f'build_docs: {name} shows a widget whose state was not saved: execute it with '
                         '`jupyter nbconvert --execute --inplace --ExecutePreprocessor.store_widget_state=True` and keep the state')
            tag = f'<script type="{VIEW_MIME}">{json.dumps(view)}</script>'
            o['data'] = {'text/html': f'<div class="draem-widget" data-model-id="{html.escape(view["model_id"])}">{tag}</div>'}
            views += 1
    return (state if views else None), views

def stage(proc:Path, nbs:Path, src:Path)->tuple:
    "Copy the processed project into `src` with Quarto's page names, a sidebar and widget tags; return (pages, states)."
    shutil.rmtree(src, ignore_errors=True); src.mkdir(parents=True)
    for f in proc.iterdir():
        if f.is_file() and f.suffix != '.ipynb': shutil.copy2(f, src/f.name)
    names, states, seen = [], {}, {}
    for p in pages(nbs):
        rel = p.relative_to(nbs)
        nb = json.loads((proc/rel).read_text(encoding='utf-8'))
        out = front_matter(nb).get('output-file') or rel.with_suffix('.html').name
        dst = rel.parent/Path(out).with_suffix('.ipynb').name
        if dst in seen: sys.exit(f'build_docs: {rel} and {seen[dst]} both become {dst.with_suffix(".html")}')
        seen[dst] = rel
        state, n = widget_outputs(nb, str(rel))
        if state: states[dst.with_suffix('.html').as_posix()] = state
        (src/dst).parent.mkdir(parents=True, exist_ok=True)
        (src/dst).write_text(json.dumps(nb), encoding='utf-8')
        names.append(dst.as_posix())
    # nbdev_sidebar's layout, with the page names smalldocs will use
    lines = ['website:', '  sidebar:', '    contents:']
    sections = {}
    for n in names:
        d = str(Path(n).parent)
        if d == '.': lines.append(f'    - {n}')
        else: sections.setdefault(d, []).append(n)
    for d, ns in sections.items():
        lines += [f'    - section: {d}', '      contents:'] + [f'      - {n}' for n in ns]
    (src/'sidebar.yml').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return names, states

# ---------------------------------------------------------------- after smalldocs
def doc_url()->str:
    from configparser import ConfigParser
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    d = cfg['DEFAULT']
    return d.get('doc_host', '').rstrip('/') + '/' + d.get('doc_baseurl', '').strip('/') + '/'

REMOTE_IMPORT = re.compile(r"""@import\s+url\((["']?)https?://[^)]*\)\s*;?""")

def postprocess(out:Path, states:dict)->int:
    "Local KaTeX, relative doc links, widget state and scripts in every page; return the number of widget pages."
    base = doc_url()
    for css in out.rglob('*.css'):  # the Bootswatch themes @import Google Fonts: the system fonts stand in offline
        t = css.read_text(encoding='utf-8')
        if REMOTE_IMPORT.search(t): css.write_text(REMOTE_IMPORT.sub('', t), encoding='utf-8')
    for page in out.rglob('*.html'):
        rel = page.relative_to(out).as_posix()
        off = '../' * rel.count('/')
        t = page.read_text(encoding='utf-8')
        t = t.replace(KATEX_CDN, f'{off}site_libs/katex')
        t = re.sub(r'href="' + re.escape(base), f'href="{off}', t)
        if rel in states:
            blob = json.dumps(states[rel]).replace('</', '<\\/')
            # defer: they run after the page's deferred KaTeX scripts, which would otherwise register as
            # anonymous AMD modules with require.js and fail
            tags = (f'<script type="{STATE_MIME}">{blob}</script>\n'
                    f'<script src="{off}{WIDGET_LIB}/require.js" defer></script>\n'
                    f'<script src="{off}{WIDGET_LIB}/embed-amd.js" defer></script>\n')
            t = t.replace('</body>', tags + '</body>', 1)
        page.write_text(t, encoding='utf-8')
    return len(states)

def check(out:Path, names:list):
    "Fail on what would break offline: a missing page, or a script or style sheet from another host."
    problems = [f'no page for {n}' for n in names if not (out/Path(n).with_suffix('.html')).exists()]
    for page in out.rglob('*.html'):
        t = page.read_text(encoding='utf-8')
        for m in re.finditer(r'<(?:script|link)\b[^>]*?(?:src|href)="(https?:)?//[^"]*"', t):
            if '<link' in m.group(0) and 'stylesheet' not in m.group(0) and 'icon' not in m.group(0): continue
            problems.append(f'{page.relative_to(out)} loads {m.group(0)}')
    for css in out.rglob('*.css'):
        problems += [f'{css.relative_to(out)} loads {m.group(0)}' for m in re.finditer(r'url\((["\']?)(https?:)?//[^)]*\)', css.read_text(encoding='utf-8'))]
    if problems: sys.exit('build_docs: ' + '\n  '.join(['the site would not work offline:'] + problems))

def build(out:Path, workers:int=2, force:bool=False)->Path:
    t0 = time.time()
    os.chdir(ROOT)  # nbdev reads settings.ini from the working folder up
    from nbdev.config import get_config
    nbs = get_config().nbs_path
    proc = nbdev_process(nbs, workers, force); t1 = time.time()
    src = BUILD/'docs_src'
    names, states = stage(proc, nbs, src)
    from smalldocs.site import build as sd_build
    site = sd_build(src, quiet=True)
    ignored = ('is not built', 'is ignored', 'is not read by smalldocs')
    for w in site.warnings:
        if not any(s in w for s in ignored): log('smalldocs warning:', w)
    built = src/'_docs'
    if out.resolve() != built.resolve():
        shutil.rmtree(out, ignore_errors=True); shutil.move(str(built), str(out))
    t2 = time.time()
    copy_assets(out)
    n = postprocess(out, states)
    check(out, names)
    log(f'{len(names)} pages ({n} with widgets) in {out}: nbdev processing {t1-t0:.1f} s, '
        f'smalldocs and assets {time.time()-t1:.1f} s')
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(ROOT/'_docs'), help='the site folder (default _docs)')
    ap.add_argument('--force', action='store_true', help='reprocess every notebook, ignoring _proc/')
    ap.add_argument('--workers', type=int, default=min(4, os.cpu_count() or 1), help="nbdev's parallel workers")
    a = ap.parse_args()
    build(Path(a.out).resolve(), a.workers, a.force)
