"Losses: SSIM (Eq. 1) against its formula and two libraries, focal loss (Eq. 3) at known points, the total loss."
import math
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from draem_nb.losses import gaussian_window, dynamic_range, ssim_map, ssim, SSIMLoss, rec_loss, focal_loss, DRAEMLoss


def _pair(seed=0, shape=(2, 3, 40, 40), noise=0.1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    return x, (x + noise * torch.randn(shape, generator=g)).clamp(0, 1)


def _ssim_formula(a, b, L=1., win=11, sigma=1.5):
    "SSIM map of two (H, W) float64 arrays, pixel by pixel, zero padding (the official convention)."
    x = np.arange(win) - win // 2
    g = np.exp(-x**2 / (2 * sigma**2)); g /= g.sum()
    w = np.outer(g, g)
    r = win // 2
    pa, pb = np.pad(a, r), np.pad(b, r)
    C1, C2 = (0.01 * L)**2, (0.03 * L)**2
    out = np.zeros(a.shape)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            A, B = pa[i:i+win, j:j+win], pb[i:i+win, j:j+win]
            ma, mb = (w*A).sum(), (w*B).sum()
            va, vb, c = (w*A*A).sum() - ma**2, (w*B*B).sum() - mb**2, (w*A*B).sum() - ma*mb
            out[i, j] = (2*ma*mb + C1) * (2*c + C2) / ((ma**2 + mb**2 + C1) * (va + vb + C2))
    return out


def test_window():
    w = gaussian_window()
    assert w.shape == (11, 11) and w.dtype == torch.float32
    assert abs(w[5, 5].item() - 0.070762) < 1e-6
    assert abs(w.sum().item() - 1) < 1e-6
    np.testing.assert_allclose(w.sum(0)[:6].numpy(), [0.00103, 0.0076, 0.036, 0.10936, 0.21301, 0.26601], atol=1e-4)
    with pytest.raises(ValueError, match='positive odd'): gaussian_window(4)


@pytest.mark.parametrize('variant', ['official', 'plain'])
@pytest.mark.parametrize('pad', ['zero', 'valid'])
def test_ssim_identity(variant, pad):
    x, _ = _pair()
    assert abs(ssim(x, x, variant=variant, pad=pad).item() - 1) < 1e-6
    assert abs(SSIMLoss(variant=variant, pad=pad)(x, x).item()) < 1e-6
    assert abs(rec_loss(x, x, ssim_variant=variant).item()) < 1e-6


def test_ssim_matches_formula():
    x, y = _pair(1, (1, 2, 14, 17), 0.3)
    m = ssim(y, x, reduction='none')
    for c in range(2):
        np.testing.assert_allclose(m[0, c].numpy(), _ssim_formula(y[0, c].double().numpy(), x[0, c].double().numpy()), atol=2e-5)


@pytest.mark.parametrize('shape,noise', [((2, 3, 40, 40), 0.1), ((1, 1, 33, 50), 0.3), ((3, 3, 64, 48), 0.02)])
def test_ssim_vs_pytorch_msssim(shape, noise):
    pm = pytest.importorskip('pytorch_msssim')
    x, y = _pair(2, shape, noise)
    ref = pm.ssim(y, x, data_range=1., win_size=11, win_sigma=1.5, size_average=True).item()
    # pytorch-msssim filters without padding: the same as pad='valid', or the interior of the zero-padded map
    assert abs(ssim(y, x, variant='plain', pad='valid').item() - ref) < 1e-4
    assert abs(ssim(y, x, reduction='none')[..., 5:-5, 5:-5].mean().item() - ref) < 1e-4
    per_img = pm.ssim(y, x, data_range=1., size_average=False)
    np.testing.assert_allclose(ssim(y, x, variant='plain', pad='valid', reduction='none').mean((1, 2, 3)).numpy(), per_img.numpy(), atol=1e-4)


def test_ssim_vs_skimage():
    skm = pytest.importorskip('skimage.metrics')
    x, y = _pair(3, (1, 3, 48, 48), 0.15)
    ref = skm.structural_similarity(y[0].numpy(), x[0].numpy(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=1., channel_axis=0)
    assert abs(ssim(y, x, variant='plain', pad='valid').item() - ref) < 1e-4


def test_dynamic_range_official():
    x, y = _pair()
    assert dynamic_range(y).item() == 1.
    low = y.clone(); low[0, 0, 0, 0] = -0.6
    assert dynamic_range(low).item() == 2.
    assert abs(ssim(low, x).item() - ssim(low, x, variant='plain', data_range=2.).item()) < 1e-6
    big = y * 255
    assert dynamic_range(big).item() == 255.
    assert abs(ssim(big, x * 255).item() - ssim(big, x * 255, variant='plain', data_range=255.).item()) < 1e-5
    # L comes from the first argument (the reconstruction) only
    assert dynamic_range(x).item() == 1. and abs(ssim(x, low).item() - ssim(x, low, variant='plain').item()) < 1e-7


def test_ssim_zero_padding_border():
    x, y = _pair()
    m = ssim(y, x, reduction='none')
    assert m.shape == x.shape
    torch.testing.assert_close(m[..., 5:-5, 5:-5], ssim(y, x, pad='valid', reduction='none'))
    # the zeros both images share at the border read as agreeing structure: border SSIM is higher
    assert m[..., :5, :].mean() > m[..., 5:-5, 5:-5].mean() and ssim(y, x) > m[..., 5:-5, 5:-5].mean()


def test_ssim_gradients_finite_at_0_and_1():
    for a0 in (0., 1.):
        for b0 in (0., 1.):
            a = torch.full((2, 3, 16, 16), a0, requires_grad=True)
            loss = SSIMLoss()(a, torch.full((2, 3, 16, 16), b0))
            loss.backward()
            assert torch.isfinite(loss) and torch.isfinite(a.grad).all()


def test_ssim_bad_input():
    x, y = _pair()
    with pytest.raises(ValueError, match='same shape'): ssim(x, y[:, :2])
    with pytest.raises(ValueError, match=r'\(B, C, H, W\)'): ssim(x[0], y[0])
    with pytest.raises(ValueError, match='variant'): ssim(x, y, variant='nope')
    with pytest.raises(ValueError, match='pad'): ssim_map(x, y, pad='reflect')
    with pytest.raises(TypeError, match='torch tensors'): ssim(x.numpy(), y)


def test_focal_known_points():
    z, t1 = torch.zeros(2, 2, 3, 3), torch.ones(2, 1, 3, 3)
    assert abs(focal_loss(z, t1, variant='plain').item() - 0.25 * math.log(2)) < 1e-7
    pt = 0.5 + 1e-5  # (1 - s) * 0.5 + s * 0.5 + s
    assert abs(focal_loss(z, t1).item() - (1 - pt)**2 * -math.log(pt)) < 1e-7
    # p_true = 0.9 from logits
    lg = torch.tensor([0., math.log(9.)])[None, :, None, None]
    assert abs(focal_loss(lg, torch.ones(1, 1, 1, 1), variant='plain').item() - 0.01 * -math.log(0.9)) < 1e-7
    pt = (1 - 1e-5) * 0.9 + 1e-5 * 0.1 + 1e-5
    assert abs(focal_loss(lg, torch.ones(1, 1, 1, 1)).item() - (1 - pt)**2 * -math.log(pt)) < 1e-7
    # gamma 0: cross entropy; alpha scales
    lg = torch.randn(2, 2, 5, 5, generator=torch.Generator().manual_seed(0))
    mk = (torch.rand(2, 1, 5, 5, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    assert abs(focal_loss(lg, mk, gamma=0., variant='plain').item() - F.cross_entropy(lg, mk[:, 0].long()).item()) < 1e-6
    assert abs(focal_loss(lg, mk, alpha=3.).item() - 3 * focal_loss(lg, mk).item()) < 1e-6


def test_focal_cap():
    wrong = torch.tensor([0., 1.])[None, :, None, None].expand(1, 2, 4, 4)
    cap = focal_loss(wrong, torch.zeros(1, 1, 4, 4), from_probs=True).item()
    assert abs(cap - (1 - 2e-5)**2 * -math.log(2e-5)) < 1e-4 and abs(cap - 10.82) < 0.01
    sat = torch.tensor([-500., 500.])[None, :, None, None].expand(1, 2, 4, 4)
    assert abs(focal_loss(sat, torch.zeros(1, 1, 4, 4)).item() - cap) < 1e-4  # saturated logits hit the same cap
    assert focal_loss(sat, torch.zeros(1, 1, 4, 4), variant='plain').item() > 100  # no cap without smoothing


@pytest.mark.parametrize('variant', ['official', 'plain'])
def test_focal_gradients_finite_at_0_and_1(variant):
    for p1 in (0., 1.):
        for t in (0., 1.):
            pr = torch.tensor([1 - p1, p1])[None, :, None, None].repeat(2, 1, 3, 3).requires_grad_()
            l = focal_loss(pr, torch.full((2, 1, 3, 3), t), from_probs=True, variant=variant)
            l.backward()
            assert torch.isfinite(pr.grad).all(), (variant, p1, t)
    big = torch.tensor([-300., 300.])[None, :, None, None].repeat(2, 1, 3, 3).requires_grad_()
    focal_loss(big, torch.zeros(2, 1, 3, 3), variant=variant).backward()
    assert torch.isfinite(big.grad).all()


def test_focal_bad_input():
    lg, mk = torch.randn(2, 2, 8, 8), torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match='binary'): focal_loss(lg, mk + 0.5)
    with pytest.raises(ValueError, match='binary'): focal_loss(lg, mk + 2)
    with pytest.raises(ValueError, match='does not match'): focal_loss(lg, mk[..., :4])
    with pytest.raises(ValueError, match='does not match'): focal_loss(lg, mk[:1])
    with pytest.raises(ValueError, match='C>=2'): focal_loss(lg[:, :1], mk)


def test_draem_loss():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 32, 32, generator=g)
    rec = (img + 0.1 * torch.randn(2, 3, 32, 32, generator=g)).requires_grad_()
    seg = torch.randn(2, 2, 32, 32, generator=g, requires_grad=True)
    msk = (torch.rand(2, 1, 32, 32, generator=g) > 0.9).float()
    lf = DRAEMLoss()
    loss = lf((rec, seg), img, msk)
    loss.backward()
    p = lf.parts
    assert set(p) == {'l2', 'ssim', 'focal', 'total'}
    assert abs(float(p['total']) - float(p['l2'] + p['ssim'] + p['focal'])) < 1e-6
    assert abs(float(p['l2']) - F.mse_loss(rec, img).item()) < 1e-7
    assert abs(float(p['ssim']) - (1 - ssim(rec, img)).item()) < 1e-7
    assert abs(float(p['focal']) - focal_loss(seg, msk).item()) < 1e-7
    assert torch.isfinite(rec.grad).all() and torch.isfinite(seg.grad).all() and rec.grad.abs().sum() > 0
    l3 = DRAEMLoss(lam=3., focal='plain', gamma=0.)((rec, seg), img, msk).item()
    assert abs(l3 - (float(p['l2']) + 3 * float(p['ssim']) + F.cross_entropy(seg, msk[:, 0].long()).item())) < 1e-5
    with pytest.raises(ValueError, match='pair'): lf(rec, img, msk)
    with pytest.raises(ValueError, match='same shape'): lf((rec, seg), img[..., :16], msk)
    with pytest.raises(ValueError, match='does not match rec'): lf((rec, seg[..., :16]), img, msk)
    with pytest.raises(ValueError, match='binary'): lf((rec, seg), img, msk * 0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_losses_on_gpu():
    img = torch.rand(2, 3, 32, 32, device='cuda')
    rec, seg = img + 0.1, torch.randn(2, 2, 32, 32, device='cuda')
    msk = (torch.rand(2, 1, 32, 32, device='cuda') > 0.9).float()
    lf = DRAEMLoss()
    loss = lf((rec, seg), img, msk)
    cpu = DRAEMLoss()((rec.cpu(), seg.cpu()), img.cpu(), msk.cpu())
    assert loss.device.type == 'cuda' and abs(loss.item() - cpu.item()) < 1e-4
