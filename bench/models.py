"""CPU speed of draem_nb's DRAEM at the official widths (128/64), next to anomalib's `DraemModel` in the same run.

Training step: forward + backward + Adam (lr 1e-4, the same optimizer for every model), batch `--bs` at
`--train-size` px, loss MSE(rec, x) + cross-entropy(seg logits, random mask). Inference: batch 1 at `--infer-size`
px, forward + anomaly map + max score, under `torch.inference_mode()`. Each in fp32 and with bf16.

Contestants:
  ours        draem_nb as we recommend running it: channels_last; at inference `DRAEM.for_inference()` (BN folded,
              bf16 *weights* for the bf16 row); training bf16 = `torch.autocast('cpu', torch.bfloat16)`.
  ours_plain  draem_nb run exactly like the peer (contiguous NCHW, eval mode, autocast for bf16): same architecture,
              so it should match the peer; it shows where the gain of `ours` comes from.
  anomalib    anomalib's `DraemModel()` as shipped (contiguous NCHW, autocast for bf16); only when anomalib imports.

Each row (train/infer x fp32/bf16) runs in a fresh process. Timing interleaves the contestants (A B C A B C ...) after one warm-up each and reports the median, so load from
other processes hits them alike. Prints readable lines, then ONE JSON line (last line of stdout).

    .venv-bench/bin/python bench/models.py            # with anomalib
    .venv/bin/python bench/models.py                  # draem_nb only (says the peer is skipped)
    .venv/bin/python bench/models.py --quick          # small sizes, a smoke test
"""
import argparse, json, os, platform, subprocess, sys, time
import torch
import torch.nn.functional as F
from draem_nb.models import DRAEM, anomaly_map
from _common import import_peer, interleaved_median

def cpu_name():
    try:
        for l in open('/proc/cpuinfo'):
            if l.startswith('model name'): return l.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor()

def load_peer():
    "anomalib's DraemModel class, or (None, reason)."
    def load():
        from anomalib.models.image.draem.torch_model import DraemModel
        return DraemModel
    return import_peer(load)

def peer_parity(DraemModel, size=64):
    "Max |diff| of ours vs anomalib's model given the same weights (their seg input is [image, rec]: permute)."
    torch.manual_seed(0)
    peer = DraemModel().eval()
    ours = DRAEM(init=False).eval()
    psd = peer.state_dict()
    rec = {k[len('reconstructive_subnetwork.'):]: v for k,v in psd.items() if k.startswith('reconstructive_subnetwork.')}
    seg = {k[len('discriminative_subnetwork.'):]: v for k,v in psd.items() if k.startswith('discriminative_subnetwork.')}
    seg['encoder_segment.block1.0.weight'] = seg['encoder_segment.block1.0.weight'][:, [3, 4, 5, 0, 1, 2]]
    ours.rec.load_state_dict(rec, strict=True); ours.seg.load_state_dict(seg, strict=True)
    x = torch.rand(1, 3, size, size)
    with torch.inference_mode():
        r, l = ours(x)
        out = peer(x)
    return max((anomaly_map(l)[:, 0] - out.anomaly_map).abs().max().item(), 0.)

def train_fns(DraemModel, size, bs, bf16, fused):
    torch.manual_seed(0)
    x = torch.rand(bs, 3, size, size)
    msk = (torch.rand(bs, size, size) > 0.9).long()
    def make(model, cl):
        model = model.train()
        if cl: model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=fused)
        xb = x.contiguous(memory_format=torch.channels_last) if cl else x
        def step():
            with torch.autocast('cpu', torch.bfloat16, enabled=bf16):
                rec, seg = model(xb)
                loss = F.mse_loss(rec.float(), x) + F.cross_entropy(seg.float(), msk)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step
    fns = {'ours': make(DRAEM(), True), 'ours_plain': make(DRAEM(), False)}
    if DraemModel is not None: fns['anomalib'] = make(DraemModel(), False)
    return fns

def infer_fns(DraemModel, size, bf16):
    torch.manual_seed(0)
    x = torch.rand(1, 3, size, size)
    base = DRAEM().eval()
    fast = base.for_inference(channels_last=True, fold=True, dtype=torch.bfloat16 if bf16 else None)
    def ours():
        with torch.inference_mode():
            rec, seg = fast(x)
            return anomaly_map(seg).amax((-2, -1))
    def ours_plain():
        with torch.inference_mode(), torch.autocast('cpu', torch.bfloat16, enabled=bf16):
            rec, seg = base(x)
            return anomaly_map(seg).amax((-2, -1))
    fns = {'ours': ours, 'ours_plain': ours_plain}
    if DraemModel is not None:
        peer = DraemModel().eval()
        def anomalib():
            with torch.inference_mode(), torch.autocast('cpu', torch.bfloat16, enabled=bf16):
                return peer(x).pred_score
        fns['anomalib'] = anomalib
    return fns

ROWS = ('train_fp32', 'train_bf16', 'infer_fp32', 'infer_bf16')

def run_row(name, a, DraemModel)->dict:
    "Images/s of each contestant for one row."
    train, bf16 = name.startswith('train'), name.endswith('bf16')
    fns = (train_fns(DraemModel, a.train_size, a.bs, bf16, a.adam == 'fused') if train else infer_fns(DraemModel, a.infer_size, bf16))
    if a.no_plain: fns.pop('ours_plain')
    secs = interleaved_median(fns, a.reps)
    return {k: (a.bs if train else 1) / s for k,s in secs.items()}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--train-size', type=int, default=128)
    ap.add_argument('--bs', type=int, default=4)
    ap.add_argument('--infer-size', type=int, default=256)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--adam', choices=['fused', 'default'], default='fused',
                    help="torch.optim.Adam(fused=True) (default) or its default CPU path, for every contestant")
    ap.add_argument('--quick', action='store_true', help='64 px training, 64 px inference, 1 rep: a smoke test')
    ap.add_argument('--no-peer', action='store_true')
    ap.add_argument('--only', nargs='*', default=None, help='run only these rows, e.g. train_bf16 infer_fp32')
    ap.add_argument('--no-plain', action='store_true', help='skip the ours_plain contestant')
    ap.add_argument('--row', help=argparse.SUPPRESS)  # internal: run one row in this process, print its JSON
    a = ap.parse_args()
    if a.quick: a.train_size, a.infer_size, a.reps = 64, 64, 1
    DraemModel, peer_info = (None, 'disabled by --no-peer') if a.no_peer else load_peer()
    if a.row:
        print(json.dumps(run_row(a.row, a, DraemModel)))
        return
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_name()}; load average {os.getloadavg()}')
    print(f'peer: {peer_info if DraemModel is not None else "SKIPPED (" + peer_info + ")"}')
    res = {'bench': 'models', 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'cpu': cpu_name(),
           'train_size': a.train_size, 'bs': a.bs, 'infer_size': a.infer_size, 'reps': a.reps, 'adam': a.adam,
           'peer': peer_info if DraemModel is not None else None, 'load_before': os.getloadavg()[0]}
    if DraemModel is not None:
        res['parity_max_abs_diff'] = peer_parity(DraemModel)
        print(f"parity: same weights in ours and anomalib's model -> anomaly maps differ by at most {res['parity_max_abs_diff']:.2e}")
    ips, ratios = {}, {}
    t0 = time.time()
    for name in ROWS:
        if a.only and name not in a.only: continue
        # each row in a fresh process: the previous row's gigabytes of freed weights, grads and Adam state
        # otherwise leave a fragmented heap that slowed the next row by up to 4x
        args = [sys.executable, os.path.abspath(__file__), '--row', name, '--train-size', str(a.train_size), '--bs', str(a.bs),
                '--infer-size', str(a.infer_size), '--reps', str(a.reps), '--adam', a.adam] + \
               (['--no-peer'] if DraemModel is None else []) + (['--no-plain'] if a.no_plain else [])
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode: sys.exit(f'{name} failed:\n{r.stderr[-3000:]}')
        ips[name] = json.loads(r.stdout.strip().splitlines()[-1])
        line = ', '.join(f'{k} {v:.3f} img/s' for k,v in ips[name].items())
        if 'anomalib' in ips[name]:
            ratios[name] = ips[name]['ours'] / ips[name]['anomalib']
            line += f'  | ours/anomalib {ratios[name]:.2f}x'
            if 'ours_plain' in ips[name]:
                ratios[name + '_plain'] = ips[name]['ours_plain'] / ips[name]['anomalib']
                line += f' (plain {ratios[name + "_plain"]:.2f}x)'
        elif 'ours_plain' in ips[name]: line += f'  | ours/ours_plain {ips[name]["ours"] / ips[name]["ours_plain"]:.2f}x'
        print(f'{name}: {line}', flush=True)
    res.update(images_per_s=ips, ratios_vs_anomalib=ratios, wall_s=round(time.time() - t0, 1), load_after=os.getloadavg()[0])
    if not ratios: print('ratios vs anomalib: none (anomalib not installed in this environment)')
    print(json.dumps(res))

if __name__ == '__main__': main()
