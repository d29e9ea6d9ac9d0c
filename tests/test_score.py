"The image score (Eq. 5) and the metrics: against hand-computed values, scikit-learn and the AUPRO definition."
import math, time, warnings
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from sklearn.metrics import roc_auc_score, average_precision_score, precision_recall_curve
from draem_nb.score import (image_score, auroc, average_precision, f1_max, aupro, AnomalyMetrics, MetricWarning,
                            synthetic_maps)


def _shift(a, d):
    "The maps with every logit moved by `d` (d < 0: a more confident model)."
    a = a.astype(np.float64)
    return (1 / (1 + np.exp(-(np.log(a) - np.log1p(-a) + d)))).astype(np.float32)


def _aupro_definition(amaps, masks, fpr_limit=0.3, structure=np.ones((3, 3))):
    "PRO and FPR at every distinct threshold, straight from the definition, then the trapezoid up to fpr_limit."
    regions, normal = [], []
    for a, m in zip(amaps, masks):
        lab, n = ndimage.label(m, structure=structure)
        regions += [a[lab == k] for k in range(1, n + 1)]
        normal.append(a[m == 0])
    normal = np.concatenate(normal)
    xs, ys = [0.], [0.]
    for t in sorted(set(np.concatenate([a.ravel() for a in amaps]).tolist()), reverse=True):
        xs.append(float((normal >= t).mean())); ys.append(float(np.mean([(r >= t).mean() for r in regions])))
    area = 0.
    for k in range(1, len(xs)):
        x0, x1, y0, y1 = xs[k-1], xs[k], ys[k-1], ys[k]
        if x1 > fpr_limit: y1, x1 = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0), fpr_limit
        area += (x1 - x0) * (y0 + y1) / 2
        if x1 >= fpr_limit: break
    return area / fpr_limit


# ---- Eq. 5
def test_image_score_hand_computed():
    m = torch.zeros(3, 1, 32, 32)
    m[0, 0, 10:15, 12:17] = 1.  # a 5x5 block: 25 ones in a 21x21 window
    m[1, 0, 0, 0] = 1.  # a corner pixel: with sf=3, 4 real pixels and 5 counted zeros of padding
    m[2, 0, 0:2, 0:2] = 0.9
    eta = image_score(m)
    assert abs(eta[0].item() - 25 / 441) < 1e-7
    assert abs(image_score(m, 3)[1].item() - 1 / 9) < 1e-7
    assert abs(image_score(m, 3)[2].item() - 4 * 0.9 / 9) < 1e-7
    assert image_score(m, 1).tolist() == pytest.approx([1., 1., 0.9])  # s_f = 1: anomalib's plain maximum
    assert image_score(m[:, 0]).shape == (3,)


def test_image_score_is_official_formula():
    r = torch.rand(4, 1, 48, 40, generator=torch.Generator().manual_seed(0)) ** 3
    ref = F.avg_pool2d(r, 21, stride=1, padding=10).flatten(1).max(1).values  # count_include_pad defaults to True
    torch.testing.assert_close(image_score(r), ref)
    torch.testing.assert_close(image_score(r, 1), r.flatten(1).max(1).values)


def test_image_score_bad_input():
    with pytest.raises(ValueError, match='odd'): image_score(torch.rand(1, 1, 8, 8), 4)
    with pytest.raises(ValueError, match='2-channel'): image_score(torch.rand(1, 2, 8, 8))
    m = torch.rand(2, 1, 8, 8); m[1, 0, 2, 2] = float('nan')
    with pytest.warns(RuntimeWarning, match='NaN'): e = image_score(m, 3)
    assert not math.isnan(e[0].item()) and math.isnan(e[1].item())


# ---- AUROC, AP, F1 against scikit-learn
@pytest.mark.parametrize('seed', range(5))
def test_image_metrics_vs_sklearn(seed):
    g = np.random.default_rng(seed)
    n = int(g.integers(5, 300))
    y = g.random(n) < g.uniform(0.1, 0.9)
    y[:2] = [0, 1]
    s = np.round(g.normal(y * g.uniform(0, 2), 1), int(g.integers(0, 3)))  # rounding makes ties
    assert abs(auroc(s, y) - roc_auc_score(y, s)) < 1e-12
    assert abs(average_precision(s, y) - average_precision_score(y, s)) < 1e-12
    p, r, th = precision_recall_curve(y, s)
    f = 2 * p * r / np.maximum(p + r, 1e-300)
    f1, thr = f1_max(s, y)
    assert abs(f1 - f[:-1].max()) < 1e-12 and thr == th[np.argmax(f[:-1])]
    assert abs(f1 - max(2 * ((s >= t) & y).sum() / ((s >= t).sum() + y.sum()) for t in np.unique(s))) < 1e-12


def test_metrics_undefined_and_bad_input():
    s, y0 = np.random.rand(10), np.zeros(10)
    for f in (auroc, average_precision):
        with pytest.warns(MetricWarning, match='undefined'): assert math.isnan(f(s, y0))
    with pytest.warns(MetricWarning): assert all(math.isnan(v) for v in f1_max(s, y0))
    with pytest.warns(MetricWarning): assert math.isnan(auroc(s, y0 + 1))
    with pytest.raises(ValueError, match='same shape'): auroc(s, y0[:5])
    with pytest.raises(ValueError, match='NaN'): auroc(np.r_[s[:9], np.nan], y0)
    with pytest.raises(ValueError, match='binary'): auroc(s, y0 + 0.5)


# ---- AUPRO against its definition
@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('fpr_limit', [0.05, 0.3, 1.])
def test_aupro_vs_definition(seed, fpr_limit):
    g = np.random.default_rng(seed)
    masks = (ndimage.uniform_filter(g.random((5, 20, 20)), 5) > 0.56).astype(np.uint8)
    masks[4] = 0  # a normal image
    amaps = np.round(np.clip(g.normal(0.3, 0.15, masks.shape) + masks * g.uniform(0, 0.5, (5, 1, 1)), 0, 1), 2)
    assert abs(aupro(amaps, masks, fpr_limit) - _aupro_definition(amaps, masks, fpr_limit)) < 1e-10
    assert abs(aupro(amaps, masks, fpr_limit, connectivity=4) - _aupro_definition(amaps, masks, fpr_limit, None)) < 1e-10


def test_aupro_known_values():
    masks = np.zeros((2, 10, 10), np.uint8); masks[0, 2:5, 2:5] = 1; masks[1, 7, 7] = 1
    assert aupro(masks.astype(float), masks) == pytest.approx(1.)
    assert aupro(1. - masks, masks) == pytest.approx(0.)
    assert aupro(np.zeros((2, 10, 10)), masks, fpr_limit=1.) == pytest.approx(0.5)
    # one region found perfectly, the other tied with every normal pixel at 0: PRO = 1/2 until the last threshold,
    # which jumps to (FPR 1, PRO 1); interpolated at FPR 0.3 that gives PRO 0.65, area 0.3 * (0.5 + 0.65) / 2
    a = masks.astype(float).copy(); a[1, 7, 7] = 0.
    assert aupro(a, masks, fpr_limit=0.3) == pytest.approx((0.5 + 0.65) / 2)
    with pytest.warns(MetricWarning): assert math.isnan(aupro(a, 0 * masks))


# ---- streaming
def test_streaming_vs_exact_realistic_maps():
    amaps, masks, labels = synthetic_maps(16, 64, seed=3)
    for d in (0., -4., -7.):  # -7: normal pixels near 1e-6, as a trained DRAEM gives
        a = _shift(amaps, d)
        res = AnomalyMetrics(sf=21).update(a[:7], masks[:7], labels[:7]).update(a[7:], masks[7:], labels[7:]).compute()
        eta = F.avg_pool2d(torch.from_numpy(a), 21, 1, 10).flatten(1).max(1).values.numpy()
        assert abs(res['image_auroc'] - roc_auc_score(labels, eta)) < 1e-12
        assert abs(res['image_ap'] - average_precision_score(labels, eta)) < 1e-12
        assert abs(res['pixel_auroc'] - roc_auc_score(masks.ravel(), a.ravel())) < 1e-4
        assert abs(res['pixel_ap'] - average_precision_score(masks.ravel(), a.ravel())) < 1e-3
        assert abs(res['aupro'] - aupro(a, masks)) < 1e-3
        assert abs(res['pixel_f1_max'] - f1_max(a, masks)[0]) < 1e-3
        f1, thr = f1_max(eta, labels)
        assert res['f1_max'] == pytest.approx(f1) and res['f1_threshold'] == pytest.approx(thr)


def test_streaming_batch_invariant_and_reset():
    amaps, masks, labels = synthetic_maps(8, 32, seed=5)
    m1 = AnomalyMetrics(sf=5)
    for i in range(8): m1.update(torch.from_numpy(amaps[i:i+1]), torch.from_numpy(masks[i:i+1]), torch.from_numpy(labels[i:i+1]))
    r1, r2 = m1.compute(), AnomalyMetrics(sf=5).update(amaps, masks).compute()  # labels from the masks
    assert r1 == r2
    m1.reset()
    with pytest.raises(ValueError, match='no batch'): m1.compute()


def test_streaming_bad_input():
    amaps, masks, labels = synthetic_maps(4, 16, seed=0)
    m = AnomalyMetrics()
    with pytest.raises(ValueError, match='match'): m.update(amaps, masks[:, :, :8], labels)
    with pytest.raises(ValueError, match='binary'): m.update(amaps, masks * 0.5, labels)
    bad = amaps.copy(); bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match='NaN'): m.update(bad, masks, labels)
    with pytest.raises(ValueError, match=r'\[0, 1\]'): m.update(amaps + 1, masks, labels)
    with pytest.raises(ValueError, match='labelled normal'): m.update(amaps, masks, 0 * labels)
    with pytest.raises(ValueError, match='one value per image'): m.update(amaps, masks, labels[:2])
    assert len(m.scores) == 0  # nothing was half-added


def test_all_normal_test_set_is_nan_with_warning():
    amaps, masks, labels = synthetic_maps(6, 16, frac_anom=0., seed=1)
    m = AnomalyMetrics().update(amaps, masks, labels)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        r = m.compute()
    for k in ('image_auroc', 'image_ap', 'pixel_auroc', 'pixel_ap', 'aupro', 'f1_max'): assert math.isnan(r[k]), k
    assert ws and all(issubclass(w.category, MetricWarning) for w in ws)


def test_full_category_speed():
    "The test split of a full MVTec category: 83 maps of 256x256 (5.4 M pixels), in batches of 8."
    amaps, masks, labels = synthetic_maps(83, 256, frac_anom=0.75, seed=7)
    t0 = time.perf_counter()
    m = AnomalyMetrics()
    for i in range(0, 83, 8): m.update(torch.from_numpy(amaps[i:i+8]), torch.from_numpy(masks[i:i+8]), torch.from_numpy(labels[i:i+8]))
    r = m.compute()
    secs = time.perf_counter() - t0
    print(f'83 x 256^2 maps: {secs:.2f} s')
    assert secs < 30  # a few seconds on a quiet 2-core machine; generous for a loaded one
    assert abs(r['pixel_auroc'] - roc_auc_score(masks.ravel(), amaps.ravel())) < 1e-3
    assert m.pos.nbytes + m.neg.nbytes + m.pro_w.nbytes < 2**21
