"Fidelity of the anomaly simulator against the official numbers (spec §2.3, §2.5) and the texture reader on nested folders."
import warnings
import numpy as np
import pytest
import torch
from PIL import Image
from draem_nb.core import ImageLoadError
from draem_nb.perlin import perlin_masks, perlin_noise
from draem_nb.augment import AUG_OPS, augment, OFFICIAL_OPS, PAPER_OPS
from draem_nb.simulate import AnomalySimulator, PRESETS, builtin_textures, load_textures, texture_files

def smooth_imgs(n, sz, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=sz, mode='bilinear').clamp(0, 1)

def test_mask_statistics_2000_at_256():
    "Official sampling: mean area 4.85 %, empty 5.3 % of the anomaly-branch masks (2,000 draws at 256x256)."
    g = torch.Generator().manual_seed(0)
    ms = torch.cat([perlin_masks(200, 256, generator=g) for _ in range(10)])
    area = ms.flatten(1).mean(1)
    assert abs(area.mean().item() - 0.049) < 0.01, area.mean()
    assert abs((area == 0).float().mean().item() - 0.05) < 0.02, (area == 0).float().mean()
    assert abs(area.median().item() - 0.046) < 0.01, area.median()

def test_simulator_statistics_code_preset():
    "About half the batch anomalous (0.5 x 0.95), beta in (0.2, 1], output in [0, 1], untouched outside the mask."
    bank = builtin_textures(64)
    sim = AnomalySimulator(bank)
    g = torch.Generator().manual_seed(1)
    has, betas = [], []
    for i in range(16):
        x = smooth_imgs(32, 64, i)
        img_t, aug, msk, h = sim(x, generator=g)
        assert 0 <= aug.min() and aug.max() <= 1
        out = msk.expand_as(aug) == 0
        assert torch.equal(aug[out], img_t[out])
        assert torch.equal(aug[h == 0], img_t[h == 0])
        assert set(msk.unique().tolist()) <= {0., 1.}
        assert torch.equal(h, (msk.flatten(1).amax(1) > 0).float())
        has.append(h); betas.append(sim.last['beta'])
    has, betas = torch.cat(has), torch.cat(betas)
    assert abs(has.mean().item() - 0.474) < 0.05, has.mean()
    assert betas.min() > 0.2 and betas.max() <= 1.0
    assert betas.min() < 0.25 and betas.max() > 0.95  # the whole range is used

def test_beta_is_the_texture_weight():
    "With p_anomaly 1 and a fixed beta the masked pixels are exactly (1-beta) I + beta A."
    bank = torch.ones(1, 3, 32, 32)  # a white texture, no augmentation
    sim = AnomalySimulator(bank, p_anomaly=1., beta=0.25, n_ops=0, rotate_p=0.)
    x = torch.full((4, 3, 32, 32), 0.2)
    img_t, aug, msk, has = sim(x, generator=torch.Generator().manual_seed(0))
    m = msk.expand_as(aug) == 1
    assert m.any()
    torch.testing.assert_close(aug[m], torch.full_like(aug[m], 0.75*0.2 + 0.25))

def test_paper_preset():
    sim = AnomalySimulator(builtin_textures(32), preset='paper', p_anomaly=1.)
    assert sim.cfg['ops'] == PAPER_OPS and sim.cfg['rotate'] == (-45., 45.)
    g = torch.Generator().manual_seed(0)
    betas = torch.cat([(sim(smooth_imgs(16, 32, i), generator=g), sim.last['beta'])[1] for i in range(10)])
    assert betas.min() >= 0.1 and betas.max() <= 1.0 and betas.min() < 0.2

def test_paper_threshold_is_sampled():
    g = torch.Generator().manual_seed(0)
    ms = torch.cat([perlin_masks(200, 64, thresh=PRESETS['paper']['thresh'], generator=g) for _ in range(3)])
    area = ms.flatten(1).mean(1)
    assert 0.035 < area.mean() < 0.08

def test_bad_input():
    sim = AnomalySimulator(builtin_textures(32))
    x = torch.rand(2, 3, 32, 32)
    for bad, msg in [(x*2, 'values in [0, 1]'), (x[:, :2], '(B, 3, H, W)'), ((x*255).byte(), 'float batch'), (x.numpy(), 'torch.Tensor')]:
        with pytest.raises((ValueError, TypeError), match=None) as e: sim(bad)
        assert msg in str(e.value), (msg, e.value)
    with pytest.raises(ValueError, match='texture bank is empty'): AnomalySimulator(torch.zeros(0, 3, 8, 8))

def test_reproducible_and_no_global_rng_when_generator_given():
    sim = AnomalySimulator(builtin_textures(32))
    x = smooth_imgs(8, 32, 0)
    a = sim(x, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(123); state = torch.get_rng_state()
    b = sim(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(state, torch.get_rng_state())
    for u, v in zip(a, b): assert torch.equal(u, v)

def test_every_op_per_sample_parameters():
    "A batch of 4 identical images gets 4 different results from every random op."
    x = smooth_imgs(1, 32, 0).repeat(4, 1, 1, 1)
    for name, f in AUG_OPS.items():
        if name in ('invert', 'equalize'): continue
        y = f(x, generator=torch.Generator().manual_seed(2))
        assert len({tuple(t.flatten()[:64].tolist()) for t in y}) > 1, name

@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
def test_cuda_matches_shapes():
    sim = AnomalySimulator(builtin_textures(32))
    x = smooth_imgs(8, 32, 0).cuda()
    img_t, aug, msk, has = sim(x, generator=torch.Generator(device='cuda').manual_seed(0))
    assert aug.device.type == 'cuda' and msk.shape == (8, 1, 32, 32)
    assert torch.equal(aug[msk.expand_as(aug) == 0], img_t[msk.expand_as(aug) == 0])

def _save(p, fmt):
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(len(str(p))).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(p, format=fmt)

def test_texture_reader_nested(tmp_path):
    for rel, fmt in [('a/x1.jpg', 'JPEG'), ('a/b/c/x2.png', 'PNG'), ('x3.BMP', 'BMP'), ('d/x4.jpeg', 'JPEG')]: _save(tmp_path/rel, fmt)
    (tmp_path/'readme.txt').write_text('not an image')
    fs = texture_files(tmp_path)
    assert fs == sorted(fs)
    assert {f.name for f in fs} == {'x1.jpg', 'x2.png', 'x3.BMP', 'x4.jpeg'}
    bank = load_textures(tmp_path, size=16)
    assert bank.shape == (4, 3, 16, 16) and 0 <= bank.min() and bank.max() <= 1
    (tmp_path/'a'/'bad.png').write_bytes(b'\x89PNG broken')
    with pytest.raises(ImageLoadError, match='bad.png'): load_textures(tmp_path, size=16)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        assert len(load_textures(tmp_path, size=16, skip_bad=True)) == 4
    assert any('skipped 1 unreadable' in str(w.message) for w in ws)
    with pytest.raises(FileNotFoundError, match='nothere'): texture_files(tmp_path/'nothere')
    (tmp_path/'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='empty'): texture_files(tmp_path/'empty')

def test_builtin_bank():
    b = builtin_textures(32)
    assert len(b) >= 12 and b.shape[1:] == (3, 32, 32)
    with pytest.warns(UserWarning, match='built-in'): load_textures(size=32)

def _augment_reference(x, ops, draws):
    "augment as first written: per position and op, gather the samples that drew it, apply, scatter back."
    choice, params = draws
    out = x.clone()
    for pos in range(choice.shape[1]):
        for k, name in enumerate(ops):
            idx = (choice[:, pos] == k).nonzero()[:, 0]
            if len(idx): out[idx] = AUG_OPS[name](out[idx], **{p: v[idx] for p, v in params[name].items()})
    return out

def test_augment_equals_the_per_op_reference():
    "The sorted-batch augment gives exactly what gathering and scattering per op gives, for any op set and count."
    from draem_nb.augment import draw_augment
    g = torch.Generator().manual_seed(0)
    for ops, n_ops in [(OFFICIAL_OPS, 3), (PAPER_OPS, 3), (('invert', 'gamma'), 2), (OFFICIAL_OPS, 1), (OFFICIAL_OPS, 10)]:
        x = smooth_imgs(37, 24, n_ops)
        d = draw_augment(37, ops, n_ops, generator=g)
        assert torch.equal(augment(x, ops, draws=d), _augment_reference(x, ops, d)), (ops, n_ops)

def test_hsv_against_colorsys():
    import colorsys
    from draem_nb.augment import rgb2hsv, hsv2rgb
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(3))
    x[0, :, 0, :5] = 0.4                                   # greys
    x[0, 1, 1, :5] = x[0, 0, 1, :5]                        # ties between channels
    hsv = rgb2hsv(x)[0].flatten(1).T
    ref = torch.tensor([colorsys.rgb_to_hsv(*p) for p in x[0].flatten(1).T.tolist()])
    torch.testing.assert_close(hsv, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(hsv2rgb(rgb2hsv(x)), x, atol=1e-5, rtol=0)

def test_equalize_and_rotate_match_torchvision_and_affine_grid():
    import math
    import torchvision.transforms.v2.functional as TF
    from draem_nb.augment import aug_equalize
    from draem_nb.perlin import rotate
    g = torch.Generator().manual_seed(0)
    for p in [0.2, 1., 3.]:
        x = torch.rand(3, 3, 33, 40, generator=g) ** p
        assert torch.equal(aug_equalize(x), TF.equalize(x))
    assert torch.equal(aug_equalize(torch.full((1, 3, 8, 8), 0.5)), TF.equalize(torch.full((1, 3, 8, 8), 0.5)))
    deg = torch.tensor([-80., 13., 45.])
    a = deg * math.pi / 180
    theta = torch.stack([torch.stack([a.cos(), -a.sin()*20/40, 0*a], 1), torch.stack([a.sin()*40/20, a.cos(), 0*a], 1)], 1)
    img = torch.rand(3, 2, 20, 40, generator=g)
    ref = torch.nn.functional.grid_sample(img, torch.nn.functional.affine_grid(theta, img.shape, align_corners=False), align_corners=False)
    torch.testing.assert_close(rotate(img, deg), ref, atol=1e-4, rtol=0)

def test_blend_is_eq4():
    from draem_nb.simulate import blend
    g = torch.Generator().manual_seed(0)
    img, tex = torch.rand(4, 3, 16, 16, generator=g), torch.rand(4, 3, 16, 16, generator=g)
    m = (torch.rand(4, 1, 16, 16, generator=g) > 0.5).float()
    b = torch.rand(4, generator=g)
    bb = b[:, None, None, None]
    torch.testing.assert_close(blend(img, tex, m, b), (1 - m)*img + (1 - bb)*(m*img) + bb*(m*tex), atol=1e-6, rtol=0)
    out = m.expand_as(img) == 0
    assert torch.equal(blend(img, tex, m, b)[out], img[out])
    assert torch.equal(blend(img, tex, m, 1.)[~out], tex[~out])

def test_hue_sat_against_colorsys():
    "The fused hue/saturation op equals Python's colorsys round trip with the shift, on greys, ties and random pixels."
    import colorsys
    from draem_nb.augment import aug_hue_sat
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 3, 12, 12, generator=g)
    x[:, :, 0, :4] = 0.3; x[0, 1, 1, :6] = x[0, 0, 1, :6]; x[1, 2, 2, :6] = x[1, 1, 2, :6]; x[2, :, 3, :3] = 0.
    hue, sat = torch.tensor([0.19, -0.19, 0.05]), torch.tensor([-0.19, 0.19, 0.])
    out = aug_hue_sat(x, hue=hue, sat=sat)
    for i in range(3):
        for p, q in zip(x[i].flatten(1).T.tolist(), out[i].flatten(1).T.tolist()):
            h, s, v = colorsys.rgb_to_hsv(*p)
            ref = colorsys.hsv_to_rgb((h + hue[i].item()) % 1, min(max(s + sat[i].item(), 0.), 1.), v)
            assert max(abs(a - b) for a, b in zip(ref, q)) < 1e-5, (i, p, q, ref)

def test_ops_equal_their_formulas_and_leave_the_input_alone():
    "The in-place op chains give what the textbook formulas give (exactly where the formula is exact), and never write to x."
    from draem_nb import augment as A
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 20, 24, generator=g); x[0, :, :3] = 0.; x[1, :, :3] = 1.
    x0 = x.clone()
    p = {k: f(4, g, 'cpu') for k, f in A.AUG_PARAMS.items()}
    bc = lambda v: v.reshape(-1, 1, 1, 1) if v.ndim == 1 else v[..., None, None]
    torch.testing.assert_close(A.aug_gamma(x, **p['gamma']), x ** bc(p['gamma']['gamma']), atol=2e-6, rtol=0)
    Y = 0.299*x[:, :1] + 0.587*x[:, 1:2] + 0.114*x[:, 2:]
    torch.testing.assert_close(A.aug_brightness(x, **p['brightness']),
                               (x + Y*(bc(p['brightness']['mul']) - 1) + bc(p['brightness']['add'])).clamp(0, 1), atol=1e-6, rtol=0)
    f = bc(p['sharpness']['factor'])
    torch.testing.assert_close(A.aug_sharpness(x, **p['sharpness']), ((1 - f)*A.smooth3(x) + f*x).clamp(0, 1), atol=1e-6, rtol=0)
    t, ap = p['solarize']['thresh'], p['solarize']['apply']
    assert torch.equal(A.aug_solarize(x, **p['solarize']), torch.where(ap[:, None, None, None] & (x >= bc(t)), 1 - x, x))
    b = p['posterize']['bits']
    v = (x*255).round().to(torch.uint8)
    mask = (0xFF << (8 - b)).to(torch.uint8) & 0xFF
    assert torch.equal(A.aug_posterize(x, **p['posterize']), (v & bc(mask)).float() / 255)
    assert torch.equal(A.aug_invert(x), 1 - x)
    for name, op in A.AUG_OPS.items():
        op(x, **p[name]); assert torch.equal(x, x0), name

def test_kept_memory_is_only_reused_when_nothing_holds_it():
    "BufferPool / reuse_memory: outputs the caller keeps (or views, numpy arrays of them) are never written to again."
    import pickle
    from draem_nb.core import BufferPool
    bank = builtin_textures(32)
    x = smooth_imgs(8, 32, 0)
    sim, plain = AnomalySimulator(bank, p_anomaly=1.), AnomalySimulator(bank, p_anomaly=1., reuse_memory=False)
    seed = lambda: torch.Generator().manual_seed(5)
    first = sim(x, generator=seed())
    for a, b in zip(first, plain(x, generator=seed())): assert torch.equal(a, b)   # the same values as in new memory
    keep = [t.clone() for t in first]
    view, arr = first[1][3], first[2].numpy()
    held = {t.data_ptr() for t in first[1:3]}
    del first
    for i in range(4):
        out = sim(x, generator=torch.Generator().manual_seed(i))
        assert not held & {t.data_ptr() for t in out[1:3]}    # the view and the numpy array keep that memory in use
    assert torch.equal(view, keep[1][3]) and np.array_equal(arr, keep[2].numpy())
    del out
    still = AnomalySimulator(bank, rotate_p=0.)                # aug is then its only (3, H, W) output
    p = still(x)[1].data_ptr()
    assert still(x)[1].data_ptr() == p                         # dropped outputs: their memory comes back
    assert pickle.loads(pickle.dumps(sim))(x, generator=seed())[1].shape == x.shape   # picklable (the pool's buffers are not sent)
    pool = BufferPool(keep=2)
    ts = [pool.empty((2, 5)) for _ in range(3)]
    assert len({t.data_ptr() for t in ts}) == 3 and len(pool._bufs[("", 20, torch.float32)]) == 2   # beyond keep: plain tensors
