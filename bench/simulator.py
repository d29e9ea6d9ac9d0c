"""Speed of draem_nb's `AnomalySimulator` (images/s), next to anomalib's `PerlinAnomalyGenerator` in the same run.

Settings: batch `--bs` (16) of `--size` (256) px images, torch on `--threads` (2) CPU threads, the same images and
the same texture folder for both. Images: the first `--bs` MVTec AD bottle train images if ../shared/data has them,
else generated ones. Textures: ../shared/data/dtd_subset/images if present, else the built-in bank written to a
temporary folder as PNG.

Contestants:
  ours            draem_nb `AnomalySimulator(load_textures(folder))`, preset "code": the bank is decoded once (and
                  resized to the batch size on the first call, `first_call_s`), then everything (normal-image
                  rotation, texture choice, 3 of 10 augmentations, Perlin masks, Eq. 4) runs batched on the device.
                  Also on CUDA when present.
  ours_norot      the same with `rotate_p=0`: no normal-image rotation, the work anomalib's generator does
                  (a reference row; the headline ratio is `ours`).
  anomalib        anomalib's `PerlinAnomalyGenerator(anomaly_source_path=folder)` called on the batch, as anomalib's
                  DRAEM does in `training_step` (it reads a texture file per anomalous sample); only when anomalib
                  imports (the optional `bench` extra).
  anomalib_notex  the same without a texture folder (its Perlin-noise-as-texture mode), for reference.

Timing interleaves the contestants (A B A B ...) after a warm-up and reports the median batch time, so load from other
processes hits them alike; `page_faults_per_call` is each contestant's mean minor page faults per call (getrusage). Prints readable lines, then ONE JSON line, then the ratio.

    .venv-bench/bin/python bench/simulator.py      # with anomalib
    .venv/bin/python bench/simulator.py            # draem_nb only (says the peer is skipped)
"""
import argparse, json, os, subprocess, tempfile, time, warnings
from pathlib import Path
import numpy as np
import torch
from PIL import Image
from draem_nb.core import load_image
from draem_nb.simulate import AnomalySimulator, load_textures, builtin_textures
from _common import import_peer, interleaved_median

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent/'shared'/'data'

def images(bs, size):
    "The first `bs` MVTec bottle train images, else smooth random images; and where they came from."
    d = DATA/'mvtec_ad'/'bottle'/'train'/'good'
    fs = sorted(d.glob('*.png'))[:bs] if d.is_dir() else []
    if len(fs) == bs: return torch.stack([load_image(f, size=size) for f in fs]), f'MVTec bottle ({d})'
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.interpolate(torch.rand(bs, 3, size//16, size//16, generator=g), size=size, mode='bilinear')
    return x.clamp(0, 1), 'generated'

def texture_folder(tmp):
    "The DTD subset if present, else the built-in bank written as PNG files."
    d = DATA/'dtd_subset'/'images'
    if d.is_dir(): return d, f'DTD subset ({d})'
    for i, t in enumerate(builtin_textures(256)):
        Image.fromarray((t.permute(1, 2, 0).numpy()*255).round().astype(np.uint8)).save(tmp/f'tex{i:02d}.png')
    return tmp, 'built-in bank as PNG'

def load_peer():
    "anomalib's PerlinAnomalyGenerator class and version, or (None, reason)."
    def load():
        from anomalib.data.utils.generators.perlin import PerlinAnomalyGenerator
        return PerlinAnomalyGenerator
    return import_peer(load)

def code_version():
    "The checkout's commit (with `+dirty` for uncommitted changes), or None outside a git checkout."
    try:
        run = lambda *a: subprocess.run(['git', *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        sha = run('rev-parse', '--short', 'HEAD')
        return (sha + ('+dirty' if run('status', '--porcelain', '--untracked-files=no') else '')) or None
    except (OSError, subprocess.SubprocessError): return None

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--bs', type=int, default=16)
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=15, help='timed batches per contestant')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tmp = Path(tempfile.mkdtemp())
    x, img_src = images(a.bs, a.size)
    folder, tex_src = texture_folder(tmp)
    t = time.perf_counter(); bank = load_textures(folder, size=a.size); t_load = time.perf_counter() - t
    print(f'images: {img_src}; textures: {tex_src}, {len(bank)} decoded in {t_load:.2f} s')
    sim = AnomalySimulator(bank)
    g = torch.Generator().manual_seed(0)
    sim_norot = AnomalySimulator(bank, rotate_p=0.)   # without the code preset's normal-image rotation, which anomalib lacks
    fns = {'ours_cpu': lambda: sim(x, generator=g), 'ours_norot_cpu': lambda: sim_norot(x, generator=g)}
    Peer, peer_info = load_peer()
    if Peer is not None:
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            peer, peer_notex = Peer(anomaly_source_path=folder), Peer(anomaly_source_path=None)
        fns['anomalib_cpu'] = lambda: peer(x)
        fns['anomalib_notex_cpu'] = lambda: peer_notex(x)
    print(f'peer: {peer_info}')
    t = time.perf_counter(); sim(x, generator=g); t_first = time.perf_counter() - t   # builds the resized bank once
    flt = {}
    res = {k: a.bs / v for k, v in interleaved_median(fns, a.reps, warm=2, faults=flt).items()}
    if torch.cuda.is_available():
        dev = torch.device('cuda'); xc = x.to(dev); gc = torch.Generator(device=dev).manual_seed(0)
        def f(): sim(xc, generator=gc); sync(dev)
        res['ours_cuda'] = a.bs / interleaved_median({'c': f}, a.reps * 4, warm=2)['c']
    for k, v in res.items(): print(f'{k:20s} {v:9.1f} img/s')
    malloc = {k: v for k, v in os.environ.items() if k.startswith('MALLOC_') or k in ('GLIBC_TUNABLES', 'LD_PRELOAD')}
    out = dict(bench='simulator', code=code_version(), malloc=malloc or 'default', size=a.size, bs=a.bs, threads=a.threads, images=img_src, textures=tex_src,
               n_textures=len(bank), texture_load_s=round(t_load, 3), first_call_s=round(t_first, 3), peer=peer_info,
               **{f'{k}_img_s': round(v, 1) for k, v in res.items()}, page_faults_per_call=flt)
    if 'anomalib_cpu' in res:
        out['ratio_cpu'] = round(res['ours_cpu'] / res['anomalib_cpu'], 2)
        out['ratio_cpu_notex'] = round(res['ours_cpu'] / res['anomalib_notex_cpu'], 2)
        out['ratio_cpu_norot'] = round(res['ours_norot_cpu'] / res['anomalib_cpu'], 2)
    print(json.dumps(out))
    if 'ratio_cpu' in out: print(f"ratio ours/anomalib (CPU, {a.threads} threads, textures): {out['ratio_cpu']:.2f}x "
                                 f"(vs anomalib without textures: {out['ratio_cpu_notex']:.2f}x)")
    else: print('ratio: n/a (anomalib not installed)')

if __name__ == '__main__': main()
