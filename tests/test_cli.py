"The console scripts: argument errors name the argument; a run killed with SIGKILL resumes to the same weights."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch

BIN = Path(sys.executable).parent
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1', MPLBACKEND='Agg')

def _run(*args, **kw):
    return subprocess.run([str(BIN/args[0]), *map(str, args[1:])], capture_output=True, text=True, env=ENV, **kw)

@pytest.mark.parametrize('args,arg', [
    (('draem_demo', '--size', '100'), '--size'),
    (('draem_demo', '--epochs', '0'), '--epochs'),
    (('draem_train', '/no/such/category'), '--root'),
    (('draem_train', '/tmp', '--size', '48'), '--size'),
    (('draem_train', '/tmp', '--schedule', 'cosine'), '--schedule'),
    (('draem_eval', '/no/model.pth', '/tmp'), '--checkpoint'),
    (('draem_predict', '/no/model.pth', '/tmp'), '--checkpoint'),
])
def test_bad_arguments_name_the_argument(args, arg):
    r = _run(*args)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert f'argument {arg}' in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr

@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    from draem_nb.data import make_demo_dataset
    return make_demo_dataset(tmp_path_factory.mktemp('data')/'demo', size=64, n_train=8, n_good=2, n_bad=2, seed=0)

TRAIN = ('--size', '64', '--bs', '4', '--rec_bw', '8', '--seg_bw', '8', '--epochs', '6', '--seed', '3')

def test_killed_run_resumes_to_the_same_weights(demo_root, tmp_path):
    full = _run('draem_train', demo_root, '--out', tmp_path/'full', *TRAIN)
    assert full.returncode == 0, full.stderr[-3000:]
    # the same run, killed (SIGKILL: no cleanup at all) as soon as its first checkpoint is on disk
    out = tmp_path/'killed'; ck = out/'checkpoint.pth'
    p = subprocess.Popen([str(BIN/'draem_train'), str(demo_root), '--out', str(out), *TRAIN], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not ck.exists() and p.poll() is None and time.time() - t0 < 300: time.sleep(0.02)
    p.send_signal(signal.SIGKILL); p.wait()
    done = torch.load(ck, weights_only=True)['epochs_done']
    assert 1 <= done < 6, f'the kill came too late to test anything (epochs done: {done})'
    assert not (out/'model.pth').exists()
    res = _run('draem_train', demo_root, '--out', out, *TRAIN, '--resume')
    assert res.returncode == 0, res.stderr[-3000:]
    a = torch.load(tmp_path/'full'/'model.pth', weights_only=True)['state_dict']
    b = torch.load(out/'model.pth', weights_only=True)['state_dict']
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f'killed at epoch {done} and resumed, {len(diff)} tensors differ, e.g. {diff[:3]}'
    assert json.loads((out/'metrics.json').read_text())['image_auroc'] == json.loads((tmp_path/'full'/'metrics.json').read_text())['image_auroc']
