"Every notebook in nbs/ runs as a test (one pytest test each), exactly as `nbdev_test` runs it."
from configparser import ConfigParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))

def _skip_flags():
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT'].get('tst_flags', '').split()

@pytest.mark.dev
@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, capsys):
    from nbdev.test import test_nb
    ok, secs = test_nb(nb, skip_flags=_skip_flags(), showerr=True)
    assert ok, f'{nb.name} failed (traceback above)'

def test_there_are_notebooks(): assert len(NBS) >= 2, NBS
