"draem_nb.models: key lists and shapes against the spec (§1.6), counts, init, official/own checkpoints, BN folding."
import os, sys
import pytest
import torch
import torch.nn as nn
from draem_nb.models import (DRAEM, ReconstructiveSubNetwork, DiscriminativeSubNetwork, CheckpointError, anomaly_map,
                             load_official, save_official, save_checkpoint, load_checkpoint, swap_rb, fuse_bn,
                             prepare_inference, model_macs, n_params, init_weights)

# Transcribed from DRAEM_SPEC.md §1.6: one row per conv, in state_dict order: conv prefix, out ch, in ch, BN prefix.
REC_TABLE = """
encoder.block1.0 128 3 encoder.block1.1
encoder.block1.3 128 128 encoder.block1.4
encoder.block2.0 256 128 encoder.block2.1
encoder.block2.3 256 256 encoder.block2.4
encoder.block3.0 512 256 encoder.block3.1
encoder.block3.3 512 512 encoder.block3.4
encoder.block4.0 1024 512 encoder.block4.1
encoder.block4.3 1024 1024 encoder.block4.4
encoder.block5.0 1024 1024 encoder.block5.1
encoder.block5.3 1024 1024 encoder.block5.4
decoder.up1.1 1024 1024 decoder.up1.2
decoder.db1.0 1024 1024 decoder.db1.1
decoder.db1.3 512 1024 decoder.db1.4
decoder.up2.1 512 512 decoder.up2.2
decoder.db2.0 512 512 decoder.db2.1
decoder.db2.3 256 512 decoder.db2.4
decoder.up3.1 256 256 decoder.up3.2
decoder.db3.0 256 256 decoder.db3.1
decoder.db3.3 128 256 decoder.db3.4
decoder.up4.1 128 128 decoder.up4.2
decoder.db4.0 128 128 decoder.db4.1
decoder.db4.3 128 128 decoder.db4.4
decoder.fin_out.0 3 128 -
"""
SEG_TABLE = """
encoder_segment.block1.0 64 6 encoder_segment.block1.1
encoder_segment.block1.3 64 64 encoder_segment.block1.4
encoder_segment.block2.0 128 64 encoder_segment.block2.1
encoder_segment.block2.3 128 128 encoder_segment.block2.4
encoder_segment.block3.0 256 128 encoder_segment.block3.1
encoder_segment.block3.3 256 256 encoder_segment.block3.4
encoder_segment.block4.0 512 256 encoder_segment.block4.1
encoder_segment.block4.3 512 512 encoder_segment.block4.4
encoder_segment.block5.0 512 512 encoder_segment.block5.1
encoder_segment.block5.3 512 512 encoder_segment.block5.4
encoder_segment.block6.0 512 512 encoder_segment.block6.1
encoder_segment.block6.3 512 512 encoder_segment.block6.4
decoder_segment.up_b.1 512 512 decoder_segment.up_b.2
decoder_segment.db_b.0 512 1024 decoder_segment.db_b.1
decoder_segment.db_b.3 512 512 decoder_segment.db_b.4
decoder_segment.up1.1 256 512 decoder_segment.up1.2
decoder_segment.db1.0 256 768 decoder_segment.db1.1
decoder_segment.db1.3 256 256 decoder_segment.db1.4
decoder_segment.up2.1 128 256 decoder_segment.up2.2
decoder_segment.db2.0 128 384 decoder_segment.db2.1
decoder_segment.db2.3 128 128 decoder_segment.db2.4
decoder_segment.up3.1 64 128 decoder_segment.up3.2
decoder_segment.db3.0 64 192 decoder_segment.db3.1
decoder_segment.db3.3 64 64 decoder_segment.db3.4
decoder_segment.up4.1 64 64 decoder_segment.up4.2
decoder_segment.db4.0 64 128 decoder_segment.db4.1
decoder_segment.db4.3 64 64 decoder_segment.db4.4
decoder_segment.fin_out.0 2 64 -
"""

def expand(table):
    "The (key, shape) list of a table: conv weight and bias, then its BN's five entries."
    out = []
    for row in table.split('\n'):
        if not row.strip(): continue
        conv, o, i, bn = row.split(); o, i = int(o), int(i)
        out += [(f'{conv}.weight', (o, i, 3, 3)), (f'{conv}.bias', (o,))]
        if bn != '-': out += [(f'{bn}.{n}', (o,)) for n in ('weight', 'bias', 'running_mean', 'running_var')] + [(f'{bn}.num_batches_tracked', ())]
    return out

@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "Small models run several times faster on one thread when the CPU is shared (no thread hand-offs)."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

@pytest.fixture(scope='module')
def full():
    torch.manual_seed(0)
    return DRAEM()

def test_tables_are_complete():
    assert len(expand(REC_TABLE)) == 156 and len(expand(SEG_TABLE)) == 191

@pytest.mark.parametrize('net,table', [('rec', REC_TABLE), ('seg', SEG_TABLE)])
def test_state_dict_keys_order_shapes(full, net, table):
    sd = getattr(full, net).state_dict()
    got = [(k, tuple(v.shape)) for k, v in sd.items()]
    assert got == expand(table)

def test_param_counts(full):
    assert n_params(full.rec) == 69_048_579
    assert n_params(full.seg) == 28_374_146
    assert n_params(full) == 97_422_725
    assert n_params(full.rec.encoder) == 37_622_400 and n_params(full.seg.encoder_segment) == 14_134_272
    assert sum(b.numel() for b in full.rec.buffers()) == 21_526
    assert sum(b.numel() for b in full.seg.buffers()) == 14_107
    assert all(p.requires_grad for p in full.parameters())
    assert set(full.parameters()) == set(full.rec.parameters()) | set(full.seg.parameters())

def test_official_init(full):
    convs = [m for m in full.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in full.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == 23 + 28 and len(bns) == 22 + 27
    w = torch.cat([c.weight.flatten() for c in convs])
    assert abs(w.mean().item()) < 1e-4 and abs(w.std().item() - 0.02) < 2e-4
    g = torch.cat([b.weight for b in bns])
    assert abs(g.mean().item() - 1) < 2e-3 and abs(g.std().item() - 0.02) < 2e-3
    assert all((b.bias == 0).all() for b in bns)
    for c in convs:  # the conv bias keeps PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        bound = 1 / (c.in_channels * 9) ** 0.5
        assert c.bias.abs().max() <= bound and c.bias.abs().max() > 0

def test_no_init_keeps_pytorch_defaults():
    m = DRAEM(8, 4, init=False)
    assert all((b.weight == 1).all() for b in m.modules() if isinstance(b, nn.BatchNorm2d))
    m.apply(init_weights)
    assert not all((b.weight == 1).all() for b in m.modules() if isinstance(b, nn.BatchNorm2d))

def test_shapes_and_bottlenecks():
    torch.manual_seed(0)
    m = DRAEM(8, 4)
    x = torch.rand(2, 3, 64, 96)
    rec, seg = m(x)
    assert rec.shape == (2, 3, 64, 96) and seg.shape == (2, 2, 64, 96)
    assert m.rec.encoder(x).shape == (2, 64, 4, 6)
    assert m.seg.encoder_segment(torch.cat([rec, x], 1))[-1].shape == (2, 32, 2, 3)
    a = anomaly_map(seg)
    assert a.shape == (2, 1, 64, 96) and (a >= 0).all() and (a <= 1).all()
    torch.testing.assert_close(a, seg.softmax(1)[:, 1:2])
    assert torch.equal(m.anomaly_map(seg), a)

@pytest.mark.parametrize('hw', [(48, 64), (64, 40), (100, 100)])
def test_sizes_not_divisible_by_32(hw):
    with pytest.raises(ValueError, match='divisible by 32'): DRAEM(8, 4)(torch.rand(1, 3, *hw))

def test_rec_alone_needs_16():
    ReconstructiveSubNetwork(bw=4)(torch.rand(1, 3, 48, 48))
    with pytest.raises(ValueError, match='divisible by 16'): ReconstructiveSubNetwork(bw=4)(torch.rand(1, 3, 40, 48))
    with pytest.raises(ValueError, match='divisible by 32'): DiscriminativeSubNetwork(bw=4)(torch.rand(1, 6, 48, 48))
    with pytest.raises(ValueError, match='expects 3 channels'): DRAEM(8, 4)(torch.rand(1, 4, 32, 32))

def test_detach_rec():
    for detach in (False, True):
        torch.manual_seed(0)
        m = DRAEM(8, 4, detach_rec=detach)
        _, seg = m(torch.rand(2, 3, 32, 32))
        seg.sum().backward()
        g = m.rec.encoder.block1[0].weight.grad
        assert (g is None) == detach
        if not detach: assert g.abs().sum() > 0

def test_channels_last_matches():
    torch.manual_seed(0)
    m = DRAEM(8, 4).eval()
    x = torch.rand(2, 3, 32, 64)
    with torch.no_grad():
        r0, s0 = m(x)
        m.to(memory_format=torch.channels_last)
        r1, s1 = m(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(r1, r0, atol=1e-5, rtol=1e-4); torch.testing.assert_close(s1, s0, atol=1e-5, rtol=1e-4)

def _official_files(tmp_path, rec_bw=8, seg_bw=4, seed=0):
    "Official-format files: the state_dicts of a seeded model that plays the authors' BGR network."
    torch.manual_seed(seed)
    off = DRAEM(rec_bw, seg_bw)
    with torch.no_grad():  # non-trivial BN statistics
        for _ in range(2): off(torch.rand(2, 3, 64, 64))
    off.eval()
    torch.save(off.rec.state_dict(), tmp_path/'run.pckl')
    torch.save(off.seg.state_dict(), tmp_path/'run_seg.pckl')
    return off, tmp_path/'run.pckl', tmp_path/'run_seg.pckl'

@pytest.mark.parametrize('train', [False, True])
def test_official_rgb_on_rgb_equals_original_on_bgr(tmp_path, train):
    off, rp, sp = _official_files(tmp_path)
    m = load_official(rp, sp)
    assert not m.training and (m.rec_bw, m.seg_bw) == (8, 4)
    # exactly the three tensors are permuted, everything else is untouched
    changed = [k for k, v in m.state_dict().items() if not torch.equal(v, (off.rec.state_dict() | off.seg.state_dict())[k[4:]])]
    assert changed == ['rec.encoder.block1.0.weight', 'rec.decoder.fin_out.0.weight', 'rec.decoder.fin_out.0.bias',
                       'seg.encoder_segment.block1.0.weight']
    assert torch.equal(m.seg.encoder_segment.block1[0].weight, off.seg.encoder_segment.block1[0].weight[:, [2, 1, 0, 5, 4, 3]])
    if train: off.train(); m.train()
    x = torch.rand(3, 3, 64, 32)
    with torch.no_grad(): (r0, l0), (r1, l1) = off(x.flip(1)), m(x)
    tol = dict(atol=2e-4, rtol=1e-3) if train else dict(atol=1e-5, rtol=1e-4)  # batch statistics add rounding
    torch.testing.assert_close(r1, r0.flip(1), **tol)
    torch.testing.assert_close(l1, l0, **tol)

def test_official_without_conversion(tmp_path):
    off, rp, sp = _official_files(tmp_path)
    m = load_official(rp, sp, bgr=False)
    for k, v in m.rec.state_dict().items(): assert torch.equal(v, off.rec.state_dict()[k])

def test_save_official_roundtrip(tmp_path):
    off, rp, sp = _official_files(tmp_path)
    m = load_official(rp, sp)
    save_official(m, tmp_path/'b.pckl', tmp_path/'b_seg.pckl')
    for f, net in [('b.pckl', off.rec), ('b_seg.pckl', off.seg)]:
        sd = torch.load(tmp_path/f, weights_only=True)
        assert list(sd) == list(net.state_dict())
        for k, v in net.state_dict().items(): assert torch.equal(sd[k], v), k

def test_official_wrong_keys(tmp_path):
    off, rp, sp = _official_files(tmp_path)
    sd = off.rec.state_dict()
    torch.save({k.replace('decoder.db2', 'decoder.dbX'): v for k, v in sd.items()}, tmp_path/'bad.pckl')
    with pytest.raises(CheckpointError, match=r"missing keys \(14\): \['decoder.db2.0.weight'") as e: load_official(tmp_path/'bad.pckl', sp)
    assert "unexpected keys (14): ['decoder.dbX.0.weight'" in str(e.value) and 'bad.pckl' in str(e.value)
    # the two files swapped
    with pytest.raises(CheckpointError, match='encoder.block1.0.weight'): load_official(sp, rp)

def test_official_wrong_shapes(tmp_path):
    off, rp, sp = _official_files(tmp_path)
    sd = dict(off.seg.state_dict())
    sd['decoder_segment.db1.0.weight'] = torch.zeros(32, 48, 3, 3)  # not 4*4 + 8*4 = 48 -> 16 out
    torch.save(sd, tmp_path/'bad_seg.pckl')
    with pytest.raises(CheckpointError, match=r'decoder_segment.db1.0.weight: file \(32, 48, 3, 3\) vs model \(16, 48, 3, 3\)'):
        load_official(rp, tmp_path/'bad_seg.pckl')
    # a seg file with 3 input channels (not [rec, image])
    sd = DiscriminativeSubNetwork(n_in=3, bw=4).state_dict()
    torch.save(sd, tmp_path/'seg3.pckl')
    with pytest.raises(CheckpointError, match=r'encoder_segment.block1.0.weight: file \(4, 3, 3, 3\) vs model \(4, 6, 3, 3\)'):
        load_official(rp, tmp_path/'seg3.pckl')

@pytest.mark.parametrize('obj', [[1, 2], 'text', {'a': 1}, torch.zeros(3)])
def test_official_not_a_state_dict(tmp_path, obj):
    _, rp, sp = _official_files(tmp_path)
    torch.save(obj, tmp_path/'x.pckl')
    with pytest.raises(CheckpointError, match='not a(?: DRAEM sub-network)? state_dict'): load_official(tmp_path/'x.pckl', sp)

def test_official_garbage_and_missing(tmp_path):
    _, rp, sp = _official_files(tmp_path)
    (tmp_path/'junk.pckl').write_bytes(b'\x00\x01 not a torch file')
    with pytest.raises(CheckpointError, match='not a readable torch checkpoint'): load_official(tmp_path/'junk.pckl', sp)
    with pytest.raises(FileNotFoundError, match='discriminative checkpoint not found: .*nope_seg.pckl'): load_official(rp, tmp_path/'nope_seg.pckl')
    with pytest.raises(CheckpointError, match='is a folder'): load_official(tmp_path, sp)

class _Evil:
    def __init__(self, path): self.path = path
    def __reduce__(self): return (os.makedirs, (self.path,))

def test_weights_only_refuses_pickled_code(tmp_path):
    _, rp, sp = _official_files(tmp_path)
    flag = str(tmp_path/'code_ran')
    sd = dict(torch.load(rp, weights_only=True)); sd['payload'] = _Evil(flag)
    torch.save(sd, tmp_path/'evil.pckl')
    with pytest.raises(CheckpointError, match=r'refused by torch.load\(weights_only=True\).*makedirs'): load_official(tmp_path/'evil.pckl', sp)
    with pytest.raises(CheckpointError, match='refused by torch.load'): load_checkpoint(tmp_path/'evil.pckl')
    assert not os.path.exists(flag)
    torch.load(tmp_path/'evil.pckl', weights_only=False)  # proves the file really carries code
    assert os.path.exists(flag)

@pytest.mark.slow
def test_full_width_official_file_loads_strict(tmp_path, full):
    torch.save(full.rec.state_dict(), tmp_path/'r.pckl'); torch.save(full.seg.state_dict(), tmp_path/'r_seg.pckl')
    m = load_official(tmp_path/'r.pckl', tmp_path/'r_seg.pckl')
    assert (m.rec_bw, m.seg_bw) == (128, 64) and n_params(m) == 97_422_725

def test_own_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    m = DRAEM(8, 4, detach_rec=True)
    with torch.no_grad(): m(torch.rand(2, 3, 32, 32))
    p = save_checkpoint(m, tmp_path/'sub'/'c.pth', epoch=5, category='bottle', src=tmp_path, metrics={'auroc': 0.99}, t=torch.ones(2))
    m2, extra = load_checkpoint(p, with_extra=True)
    assert isinstance(m2, DRAEM) and not m2.training and (m2.rec_bw, m2.seg_bw, m2.detach_rec) == (8, 4, True)
    assert extra['epoch'] == 5 and extra['src'] == str(tmp_path) and extra['metrics'] == {'auroc': 0.99} and torch.equal(extra['t'], torch.ones(2))
    for (k, v), (k2, v2) in zip(m.state_dict().items(), m2.state_dict().items()): assert k == k2 and torch.equal(v, v2)
    ck = torch.load(p, weights_only=True)  # loadable by anyone with weights_only=True
    assert ck['format'] == 'draem_nb' and ck['rec_bw'] == 8
    assert isinstance(load_checkpoint(p), DRAEM)

def test_own_checkpoint_errors(tmp_path):
    m = DRAEM(8, 4)
    with pytest.raises(TypeError, match=r"extra\['cb'\]\[0\] is a function"): save_checkpoint(m, tmp_path/'a.pth', cb=[lambda: 0])
    with pytest.raises(ValueError, match='BN-folded'): save_checkpoint(fuse_bn(m), tmp_path/'a.pth')
    _, rp, _ = _official_files(tmp_path)
    with pytest.raises(CheckpointError, match='use `load_official`'): load_checkpoint(rp)
    with pytest.raises(FileNotFoundError): load_checkpoint(tmp_path/'missing.pth')
    p = save_checkpoint(m, tmp_path/'c.pth')
    ck = torch.load(p, weights_only=True); ck['state_dict'].pop('seg.decoder_segment.fin_out.0.bias')
    torch.save(ck, tmp_path/'d.pth')
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): \['seg.decoder_segment.fin_out.0.bias'\]"): load_checkpoint(tmp_path/'d.pth')

def test_swap_rb_is_an_involution():
    torch.manual_seed(0)
    m = DRAEM(8, 4)
    r, s = swap_rb(*swap_rb(m.rec.state_dict(), m.seg.state_dict()))
    for k, v in m.rec.state_dict().items(): assert torch.equal(r[k], v)
    for k, v in m.seg.state_dict().items(): assert torch.equal(s[k], v)

def _trained_stats_model():
    torch.manual_seed(0)
    m = DRAEM(16, 8)
    with torch.no_grad():
        for _ in range(3): m(torch.rand(4, 3, 64, 64) * 2 - 0.5)
    return m.eval()

@pytest.mark.parametrize('cl', [False, True])
def test_fuse_bn_matches_eval_model(cl):
    m = _trained_stats_model()
    x = torch.rand(2, 3, 64, 64)
    f = prepare_inference(m, channels_last=cl)
    assert not any(isinstance(o, nn.BatchNorm2d) for o in f.modules()) and not any(p.requires_grad for p in f.parameters())
    assert any(isinstance(o, nn.BatchNorm2d) for o in m.modules())  # the original is left alone
    with torch.no_grad(): (r0, l0), (r1, l1) = m(x), f(x)
    torch.testing.assert_close(r1, r0, atol=1e-4, rtol=1e-3); torch.testing.assert_close(l1, l0, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(anomaly_map(l1), anomaly_map(l0), atol=1e-5, rtol=0)

def test_for_inference_bf16_close():
    m = _trained_stats_model()
    x = torch.rand(2, 3, 64, 64)
    f = m.for_inference(dtype=torch.bfloat16)
    with torch.no_grad(): (r0, l0), (r1, l1) = m(x), f(x)
    assert r1.dtype == torch.bfloat16
    assert (anomaly_map(l1) - anomaly_map(l0)).abs().max() < 0.05
    assert (r1.float() - r0).abs().max() < 0.05 * r0.abs().max() + 0.05

def test_macs_match_spec():
    assert abs(model_macs()['total'] / 1e9 - 197.95) < 0.01
    assert abs(model_macs(64, 32)['total'] / 1e9 - 49.68) < 0.01
    assert abs(model_macs(32, 16)['total'] / 1e9 - 12.51) < 0.01
    assert model_macs(32, 16, 64, bs=4)['total'] == model_macs(32, 16, 128)['total'] == 4 * model_macs(32, 16, 64)['total']
    assert model_macs(8, 4, (64, 128))['total'] == 2 * model_macs(8, 4, 64)['total']
    m = model_macs()
    assert abs(m['rec'] / 1e9 - 159.90) < 0.01 and abs(m['seg'] / 1e9 - 38.05) < 0.01

def test_anomalib_parity():
    "With the same weights (seg input order permuted) our forward equals anomalib's DraemModel (when installed)."
    tm = pytest.importorskip('anomalib.models.image.draem.torch_model')
    torch.manual_seed(0)
    peer = tm.DraemModel().eval()
    ours = DRAEM(init=False).eval()
    psd = peer.state_dict()
    rec = {k.split('.', 1)[1]: v for k, v in psd.items() if k.startswith('reconstructive_subnetwork.')}
    seg = {k.split('.', 1)[1]: v for k, v in psd.items() if k.startswith('discriminative_subnetwork.')}
    seg['encoder_segment.block1.0.weight'] = seg['encoder_segment.block1.0.weight'][:, [3, 4, 5, 0, 1, 2]]
    ours.rec.load_state_dict(rec, strict=True); ours.seg.load_state_dict(seg, strict=True)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad(): _, l = ours(x); out = peer(x)
    torch.testing.assert_close(anomaly_map(l)[:, 0], out.anomaly_map, atol=1e-5, rtol=1e-4)
