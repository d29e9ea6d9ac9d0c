"predict and evaluate on generated data: what they return and write."
import csv
import pytest
import torch
from draem_nb.core import set_seed
from draem_nb.data import make_demo_dataset
from draem_nb.models import DRAEM, save_checkpoint
from draem_nb.inference import predict, evaluate, choose_threshold

@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('inf')
    root = make_demo_dataset(tmp/'demo', size=64, n_train=4, n_good=3, n_bad=4, seed=1)
    set_seed(0)
    return tmp, root, DRAEM(rec_bw=8, seg_bw=8).eval()

def test_predict_folder_writes_heatmaps_and_scores(setup):
    tmp, root, model = setup
    p = predict(model, root/'test', out_dir=tmp/'out', size=64, threshold=0.3, bs=3, progress=False)
    n = len(list((root/'test').rglob('*.png')))
    assert p.scores.shape == (n,) and p.maps.shape == (n, 1, 64, 64)
    rows = list(csv.DictReader(open(tmp/'out'/'scores.csv')))
    assert len(rows) == n
    for r in rows:
        assert (tmp/'out'/r['heatmap']).exists()
        assert r['anomalous'] == str(int(float(r['score']) >= 0.3))
    assert p.anomalous.tolist() == [float(s) >= 0.3 for s in p.scores]

def test_predict_streams_without_keeping_maps(setup):
    tmp, root, model = setup
    assert predict(model, root/'test', size=64, keep_maps=False, progress=False).maps is None

def test_checkpoint_threshold_is_used(setup):
    tmp, root, model = setup
    res = evaluate(model, root, size=64, progress=False)
    assert set(res) >= {'image_auroc', 'image_ap', 'pixel_auroc', 'pixel_ap', 'aupro', 'f1_max', 'f1_threshold'}
    thr = choose_threshold(model, root, size=64)
    assert thr == res['f1_threshold']
    save_checkpoint(model, tmp/'m.pth', threshold=thr, size=64)
    p = predict(tmp/'m.pth', root/'test', progress=False)
    assert p.threshold == thr and p.maps.shape[-1] == 64

def test_predict_refuses_unnormalised_input(setup):
    _, _, model = setup
    with pytest.raises(ValueError, match=r'must be in \[0, 1\]'): predict(model, torch.rand(1, 3, 64, 64) * 2 - 1)
