import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def pytest_configure(config):
    # two pytest-xdist workers on two cores: one torch thread each keeps them from fighting
    if os.environ.get('PYTEST_XDIST_WORKER'):
        import torch
        torch.set_num_threads(1)

@pytest.fixture
def root(): return ROOT
