"""The docs site, checked in a real browser (Debian's Chromium driven by Playwright), plus a static check of the paper-to-code page.

The browser tests read the site that `python tools/build_docs.py` writes into `_docs/`. They run when
DRAEM_DOCS_TESTS=1 (the docs step of `.ci/run` sets it, after installing chromium and building the site) and then
FAIL when /usr/bin/chromium or the site is missing; without the variable they are skipped with that reason.
Every request that does not go to 127.0.0.1 is aborted, so a page that needs a CDN fails at once.
Screenshots go to artifacts/ (gitignored; CI keeps it)."""
import functools, html, http.server, json, os, re, shutil, signal, socket, subprocess, sys, threading, time
from pathlib import Path
from urllib.parse import urlsplit, unquote
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS, DOCS, ART = ROOT/'nbs', ROOT/'_docs', ROOT/'artifacts'
CHROMIUM = os.environ.get('DRAEM_CHROMIUM', '/usr/bin/chromium')  # another Chromium or Chrome, e.g. on GitHub's runners
ENABLED = os.environ.get('DRAEM_DOCS_TESTS') == '1'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']
VIEW = 'application/vnd.jupyter.widget-view+json'
# the live test serves the first of these that exists and has a slider; a generated demo stands in for none
LIVE_CANDIDATES = ['01_perlin.ipynb', '03_simulate.ipynb', '07_score.ipynb', '06_losses.ipynb', '02_augment.ipynb']
CONTROLS = '.widget-slider, .widget-hslider, .widget-vslider, .widget-dropdown, .widget-toggle-buttons, .widget-checkbox, .widget-radio'

_enabled = pytest.mark.skipif(not ENABLED, reason='browser tests of the built docs: run `python tools/build_docs.py`, '
                              'then set DRAEM_DOCS_TESTS=1 (the docs step of .ci/run does both)')
def browser_test(f): return pytest.mark.dev(_enabled(f))  # dev: Playwright, Voila and nbformat are dev tools

def notebooks(): return sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')))

def cell_src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def directives(src:str)->dict:
    "A cell's `#| key: value` (or `#| flag`) lines as {key: value}."
    d = {}
    for l in src.splitlines():
        if not l.startswith('#|'): continue
        k, _, v = l[2:].strip().partition(':') if ':' in l else (l[2:].strip().split(' ')[0], '', '')
        d[k.strip()] = v.strip()
    return d

# ---------------------------------------------------------------- a static check (no browser)
def paper_names():
    "Every `draem_nb.module.name` that the paper-to-code page names."
    nb = NBS/'90_paper_to_code.ipynb'
    text = '\n'.join(cell_src(c) for c in json.loads(nb.read_text(encoding='utf-8'))['cells'])
    return sorted(set(re.findall(r'\bdraem_nb\.([a-z_]+)\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)', text)))

def test_paper_to_code_page_names_real_code():
    "The paper-to-code map cannot go stale: every function or class it names exists."
    import importlib
    names = paper_names()
    assert len(names) >= 8, names
    missing = []
    for mod, name in names:
        try: obj = importlib.import_module(f'draem_nb.{mod}')
        except ImportError as e: missing.append(f'draem_nb.{mod} ({e})'); continue
        for part in name.split('.'):
            obj = getattr(obj, part, None)
            if obj is None: missing.append(f'draem_nb.{mod}.{name}'); break
    assert not missing, f'nbs/90_paper_to_code.ipynb names code that does not exist: {missing}'

# ---------------------------------------------------------------- the browser and the site
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

@pytest.fixture(scope='module')
def site():
    "The built site served on 127.0.0.1; its base URL."
    if not Path(CHROMIUM).exists(): pytest.fail(f'{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)')
    if not (DOCS/'index.html').exists(): pytest.fail('_docs/index.html is missing: run `python tools/build_docs.py` first')
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(DOCS)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}/'
    srv.shutdown(); srv.server_close()

@pytest.fixture(scope='module')
def browser():
    if not Path(CHROMIUM).exists(): pytest.fail(f'{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()

def open_page(browser, url, width=1100, height=900):
    "A new page at `url` that records console errors, page errors, failed requests and any request off 127.0.0.1."
    page = browser.new_page(viewport={'width': width, 'height': height})
    errors = []
    def route(r):
        u = r.request.url
        if u.startswith(('http://127.0.0.1:', 'data:', 'blob:')): return r.continue_()
        errors.append(f'request off the machine: {u}'); r.abort()
    page.route('**/*', route)
    page.on('console', lambda m: m.type == 'error' and errors.append(f'console error: {m.text} at {m.location.get("url", "")}'))
    page.on('pageerror', lambda e: errors.append(f'page error: {e}'))
    page.on('requestfailed', lambda r: errors.append(f'request failed: {r.url} {r.failure}'))
    page.goto(url, wait_until='load')
    return page, errors

def html_pages(): return sorted(p for p in DOCS.rglob('*.html') if 'site_libs' not in p.parts) if DOCS.exists() else []

def n_views(p:Path)->int: return p.read_text(encoding='utf-8').count(f'type="{VIEW}"')

def wait_widgets(page, n:int, timeout=30):
    "Wait until the page's `n` saved widgets have rendered (each view tag gets a rendered widget before it)."
    if not n: return
    page.wait_for_function('n => document.querySelectorAll(".draem-widget .jupyter-widgets").length >= n && '
                           'Array.from(document.querySelectorAll(".draem-widget")).every(d => d.querySelector(".jupyter-widgets"))',
                           arg=n, timeout=timeout*1000)

@functools.lru_cache(None)
def ids_in(p:Path)->frozenset:
    return frozenset(html.unescape(m) for m in re.findall(r'\bid="([^"]+)"', p.read_text(encoding='utf-8')))

def broken_links(base:str, hrefs:list)->list:
    "The internal links whose page or anchor does not exist in the site."
    bad = []
    for h in hrefs:
        if not h.startswith(base): continue
        u = urlsplit(h); path = unquote(u.path)[len(urlsplit(base).path):]
        f = DOCS/path
        if path == '' or path.endswith('/'): f = f/'index.html'
        if not f.is_file(): bad.append(h); continue
        if u.fragment and f.suffix == '.html' and unquote(u.fragment) not in ids_in(f): bad.append(h)
    return bad

@browser_test
def test_every_notebook_has_a_page():
    titles = set()
    for p in html_pages():
        m = re.search(r'<h1 class="title">(.*?)</h1>', p.read_text(encoding='utf-8'), re.S)
        if m: titles.add(html.unescape(re.sub('<[^>]+>', '', m.group(1))).strip())
    for nb in notebooks():
        md = [cell_src(c) for c in json.loads(nb.read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'markdown']
        t = next((m.group(1).strip() for s in md for m in [re.search(r'^# (.+)$', s, re.M)] if m), None)
        assert t and t in titles, f'{nb.name} (title {t!r}) has no page in _docs/ (pages titled {sorted(titles)})'

@browser_test
def test_pages_load_clean_with_working_links(site, browser):
    "Every page loads with no console error, no failed or external request, and no broken internal link."
    ART.mkdir(exist_ok=True)
    pages, problems = html_pages(), {}
    assert len(pages) >= len(notebooks()), f'{len(pages)} pages for {len(notebooks())} notebooks'
    for p in pages:
        rel = p.relative_to(DOCS).as_posix()
        page, errors = open_page(browser, site + rel)
        try: wait_widgets(page, n_views(p))
        except Exception as e: errors.append(f'widgets did not render: {str(e).splitlines()[0]}')
        page.wait_for_timeout(300)  # late errors
        hrefs = page.eval_on_selector_all('a[href]', 'els => els.map(a => a.href)')
        errors += [f'broken link: {h}' for h in broken_links(site, hrefs)]
        if errors: problems[rel] = errors; page.screenshot(path=str(ART/f'docs_broken_{p.stem}.png'), full_page=True)
        page.close()
    assert not problems, (json.dumps(problems, indent=1) + '\nA missing #anchor on an API page usually comes from a backticked '
                          'name (nbdev links it) that has no show_doc on its page: add show_doc(Name) there, or drop the backticks.')

@browser_test
def test_index_shows_the_two_commands(site, browser):
    sys.path.insert(0, str(ROOT/'tools'))
    from readme_cmds import readme_commands
    cmds = readme_commands((ROOT/'README.md').read_text(encoding='utf-8'))
    page, errors = open_page(browser, site + 'index.html')
    text = page.inner_text('main')
    page.screenshot(path=str(ART/'docs_index.png'), full_page=True)
    for k in ('main', 'test'): assert cmds[k] in text, f'the index page does not show the {k} command {cmds[k]!r}'
    assert not errors, errors

def widget_pages(): return [p for p in html_pages() if n_views(p)]

@browser_test
def test_equation_pages_show_widget_and_figure(site, browser):
    "Each page with a saved widget renders every widget (a control appears) and has a static figure in its section."
    pages = widget_pages()
    if not pages: pytest.skip('no docs page has a saved widget yet')
    problems = {}
    for p in pages:
        page, errors = open_page(browser, site + p.relative_to(DOCS).as_posix(), height=1400)
        try: wait_widgets(page, n_views(p))
        except Exception as e: errors.append(f'widgets did not render: {str(e).splitlines()[0]}')
        report = page.evaluate('''sel => Array.from(document.querySelectorAll(".draem-widget")).map(w => {
            const r = w.getBoundingClientRect(), sec = w.closest("section") || document.body;
            const figs = Array.from(sec.querySelectorAll("img")).filter(i => !i.closest(".draem-widget") && i.naturalWidth > 0);
            return {id: w.dataset.modelId, controls: w.querySelectorAll(sel).length, h: r.height, figures: figs.length};
        })''', CONTROLS)
        for w in report:
            if not w['controls'] or w['h'] < 20: errors.append(f'widget {w["id"]} did not render a control: {w}')
            if not w['figures']: errors.append(f'widget {w["id"]} has no static figure in its section')
        for i, w in enumerate(page.locator('.draem-widget').all()):  # each widget with what follows it in its section
            w.scroll_into_view_if_needed(); b = w.bounding_box()  # viewport coordinates from here on
            sec = page.evaluate('el => { const r = (el.closest("section") || document.body).getBoundingClientRect(); '
                                'return [r.top, r.bottom]; }', w.element_handle())
            top = max(0, sec[0], b['y'] - 150); bottom = min(sec[1], page.viewport_size['height'])
            page.screenshot(path=str(ART/f'docs_widget_{p.stem}_{i}.png'),
                            clip={'x': 0, 'y': top, 'width': page.viewport_size['width'], 'height': max(bottom - top, 50)})
        if errors: problems[p.name] = errors
        page.close()
    assert not problems, json.dumps(problems, indent=1)

# ---------------------------------------------------------------- live: Voila, a kernel, a slider
DEMO = '''import numpy as np, matplotlib.pyplot as plt, ipywidgets as widgets
def show(k=2):
    x = np.linspace(0, 6, 200); plt.figure(figsize=(4, 2)); plt.plot(x, np.sin(k*x)); plt.show()
widgets.interactive(show, k=widgets.IntSlider(value=2, min=1, max=8))'''

def live_notebook(tmp:Path)->Path:
    "A copy of the first candidate notebook with a slider, without the cells nbdev_test skips; else a small demo."
    import nbformat
    for name in LIVE_CANDIDATES:
        src = NBS/name
        if not src.exists(): continue
        nb = nbformat.read(src, as_version=4)
        if 'Slider' not in ''.join(c.source for c in nb.cells if c.cell_type == 'code'): continue
        # what nbdev_test skips, and nbdev_export() (a no-op under nbdev_test; outside the project it raises)
        skip = lambda c: ('nbdev_export()' in c.source or
                          (lambda d: d.get('eval', '').lower() == 'false' or bool(d.keys() & {'slow', 'notest'}))(directives(c.source)))
        nb.cells = [c for c in nb.cells if not (c.cell_type == 'code' and skip(c))]
        for c in nb.cells:
            if c.cell_type == 'code': c.outputs = []
        dst = tmp/name; nbformat.write(nb, dst); return dst
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(DEMO)])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    dst = tmp/'live_demo.ipynb'; nbformat.write(nb, dst); return dst

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture
def voila(tmp_path):
    "Voila serving the live notebook on 127.0.0.1, in its own process group, stopped by its PID."
    nb, port = live_notebook(tmp_path), free_port()
    voila_exe = Path(sys.executable).parent/'voila'
    assert voila_exe.exists(), 'voila is not installed in this environment (it is in the dev extras)'
    ART.mkdir(exist_ok=True)
    logf = open(ART/'voila.log', 'w')
    env = {**os.environ, 'MPLBACKEND': 'module://matplotlib_inline.backend_inline'}  # .ci/run exports Agg: no plots
    proc = subprocess.Popen([str(voila_exe), nb.name, '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1',
                             '--show_tracebacks=True'],
                            cwd=tmp_path, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(120):
            if proc.poll() is not None: pytest.fail(f'voila exited with {proc.returncode}: see artifacts/voila.log')
            with socket.socket() as s:
                if s.connect_ex(('127.0.0.1', port)) == 0: break
            time.sleep(0.5)
        yield f'http://127.0.0.1:{port}/', nb.name
    finally:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if proc.poll() is not None: break
            try: os.killpg(proc.pid, sig)
            except ProcessLookupError: break
            try: proc.wait(wait)
            except subprocess.TimeoutExpired: pass
        logf.close()

def settled_shot(loc, quiet=1.5, timeout=60.0)->bytes:
    "A screenshot of `loc` once it has stopped changing for `quiet` seconds."
    end, last, since = time.time() + timeout, None, time.time()
    while time.time() < end:
        shot = loc.screenshot(animations='disabled')
        if shot != last: last, since = shot, time.time()
        elif time.time() - since >= quiet: return shot
        time.sleep(0.5)
    raise AssertionError(f'the widget kept changing for {timeout} s')

@browser_test
def test_live_slider_redraws_the_plot(voila, browser):
    "In Voila (a live kernel) a slider moved by the browser changes the plot."
    url, name = voila
    t0 = time.time()
    page = browser.new_page(viewport={'width': 1100, 'height': 900})
    page.route('**/*', lambda r: r.continue_() if r.request.url.startswith(('http://127.0.0.1:', 'ws://127.0.0.1:', 'data:', 'blob:')) else r.abort())
    page.goto(url, wait_until='load', timeout=240_000)  # Voila streams the page while it runs the cells
    handle = page.locator('.widget-interact .widget-slider .noUi-handle').first
    handle.wait_for(state='visible', timeout=240_000)
    box = page.locator('.widget-interact', has=page.locator('.noUi-handle')).first
    box.scroll_into_view_if_needed()
    out = box.locator('.widget-output').last
    out.locator('img, canvas, svg').first.wait_for(state='visible', timeout=120_000)  # the first plot is drawn
    page.wait_for_load_state('networkidle', timeout=120_000)  # Voila has run every cell
    body = page.inner_text('body')
    assert 'Traceback (most recent call last)' not in body, f'{name} raised under Voila:\n' + body[body.index('Traceback') - 200:][:3000]
    readout = box.locator('.widget-readout').first
    before_txt, before = readout.inner_text(), settled_shot(out)
    page.screenshot(path=str(ART/'live_before.png'), full_page=False)
    handle.focus()
    for key in ('ArrowRight', 'ArrowLeft'):  # right, unless the slider already sits at its maximum
        for _ in range(3): handle.press(key); time.sleep(0.2)
        if readout.inner_text() != before_txt: break
    after_txt = readout.inner_text()
    assert after_txt != before_txt, f'the slider did not move (readout {before_txt!r})'
    end = time.time() + 60
    while settled_shot(out) == before and time.time() < end: time.sleep(0.5)
    after = settled_shot(out)
    page.screenshot(path=str(ART/'live_after.png'), full_page=False)
    print(f'live test on {name}: slider {before_txt} -> {after_txt}, plot redrawn; {time.time()-t0:.1f} s')
    assert after != before, f'{name}: the slider moved ({before_txt} -> {after_txt}) but the plot did not change'
