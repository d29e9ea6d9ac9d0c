"The repository is in sync: notebooks export to the tracked library, notebooks are clean, README.md is fresh."
import shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from readme_cmds import readme_commands

def _tracked_copy(dst:Path)->Path:
    "A copy of the tracked files (as they are in the working tree) in `dst`."
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout.decode().split('\0')
    for f in filter(None, files):
        src = ROOT/f
        if src.is_file():
            (dst/f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(src, dst/f)
    return dst

def _changed(a:Path, b:Path, globs)->list:
    return sorted(str(p.relative_to(a)) for g in globs for p in a.glob(g)
                  if not (b/p.relative_to(a)).exists() or p.read_bytes() != (b/p.relative_to(a)).read_bytes())

@pytest.mark.dev
@pytest.mark.parametrize('tool,globs', [('nbdev_export', ['draem_nb/**/*.py']), ('nbdev_clean', ['nbs/**/*.ipynb'])])
def test_nbdev_tool_changes_nothing(tool, globs, tmp_path):
    copy = _tracked_copy(tmp_path/'repo')
    subprocess.run(['git', 'init', '-q'], cwd=copy, check=True)  # nbdev_clean looks for the repo root
    exe = Path(sys.executable).parent/tool
    r = subprocess.run([str(exe)], cwd=copy, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    changed = _changed(copy, ROOT, globs) + _changed(ROOT, copy, globs)
    assert not changed, f'{tool} would change {changed}: run it and commit the result'

@pytest.mark.dev
def test_readme_is_generated_from_index():
    from make_readme import readme_text
    assert (ROOT/'README.md').read_text(encoding='utf-8') == readme_text(), \
        'README.md is stale: run `python tools/make_readme.py`'

def test_readme_has_two_setup_commands():
    cmds = readme_commands((ROOT/'README.md').read_text(encoding='utf-8'))
    assert 'pip install' in cmds['main'] and 'pip install' in cmds['test']
    assert 'pytest' in cmds['test']

def test_readme_commands_parser_refuses_drift():
    with pytest.raises(ValueError, match='exactly two'): readme_commands('## Set up\n```sh\na\n```\n## Next\n')
    with pytest.raises(ValueError, match='no "## Set up"'): readme_commands('# nothing here')
