"""Training benchmark (issue 7): draem_nb vs anomalib's DRAEM on MVTec bottle, same CPU time budget, same configuration.

Both libraries train the same small DRAEM (default 128 px, reconstructive/discriminative base widths 16/16 (the demo's), batch 8,
the DTD subset as anomaly source, seed 0) for the same wall-clock budget (`--minutes`, default 30, per library), each
in its own process with ONE torch thread, the two processes running at the same time so that both see the same
machine load. Then both models are evaluated the same way on the bottle test split (83 images, masks binarised at
0.5, images loaded with `draem_nb.core.load_image`: plain bilinear resize): image AUROC/AP with the official image
score (max of the 21x21 mean-filtered map, `draem_nb.score.AnomalyMetrics(sf=21)`), pixel AUROC/AP and AUPRO; plus
the image metrics under anomalib's own image-score convention (max of the raw map, sf=1) as extra keys `*_max`.

How each side is trained:
  ours      `draem_nb.learner.draem_learner` + `fit_draem` (fastai Learner: simulator callback, DRAEMLoss, Adam with
            the official two parameter groups). The budget is a time-limit callback (`TimeBudget`): it stops after
            the batch that crosses the budget, and it positions the learning-rate schedule by elapsed time
            (pos = elapsed / budget), so `--schedule one_cycle` warms up and anneals over the whole budget whatever
            the machine load does to the epoch time. Validation is skipped during training (evaluation at the end).
            Data: the 209 train images decoded once into memory.
  anomalib  its `Draem` Lightning module (PerlinAnomalyGenerator reading the DTD folder, DraemLoss, Adam +
            MultiStepLR(400, 600, x0.1) -- never reached in a short run, so a constant lr) driven by its `Engine`
            (Lightning Trainer, `max_time` = the budget, cpu, validation off, no logger), with its `MVTecAD`
            datamodule (bottle, batch `--bs`, 0 workers) and a PreProcessor `Resize(size, antialias=False)` (the same
            plain resize as ours). Its `DraemModel`'s two sub-networks are rebuilt with the same base widths.
            The lr is `--lr` (anomalib hard-codes 1e-4 in `configure_optimizers`; a subclass only changes that
            number, `--peer-lr` to set it apart). `--peer-driver loop` (or an Engine failure) uses a minimal loop
            over its own components instead (generator, DraemModel, DraemLoss, Adam) on our in-memory train tensors.

Run from the repository root:
    .venv-bench/bin/python bench/peer_train.py --minutes 30            # both, concurrently (about 35 min wall)
    .venv-bench/bin/python bench/peer_train.py --minutes 1             # smoke test
    .venv/bin/python bench/peer_train.py --which ours --minutes 1      # without anomalib (the peer is skipped)
Prints one JSON line per library, then a comparison line (ratios ours / anomalib); writes all of it, the
configuration and the load average seen during the run to `--out` (default bench/results/peer_train.json).
"""
import argparse, json, math, os, platform, subprocess, sys, threading, time, warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
METRICS = ('image_auroc', 'pixel_auroc', 'pixel_ap', 'image_ap', 'aupro', 'image_auroc_max', 'image_ap_max')

def _one_thread():
    import torch
    torch.set_num_threads(1)
    try: torch.set_num_interop_threads(1)
    except RuntimeError: pass

# ------------------------------------------------------------------------------------------------------ evaluation
def evaluate_fn(amap_fn, root, size, bs=8):
    "Metrics of `amap_fn(x) -> (B,1,H,W)` maps on the test split of `root`: sf=21 (official) plus image metrics at sf=1 (`*_max`)."
    import torch
    from draem_nb.data import MVTecCategory
    from draem_nb.core import load_image
    from draem_nb.score import AnomalyMetrics
    cat = MVTecCategory(root)
    official, raw = AnomalyMetrics(sf=21, aupro=True), AnomalyMetrics(sf=1, aupro=False)
    items = list(cat.test)
    for i in range(0, len(items), bs):
        chunk = items[i:i+bs]
        x = torch.stack([load_image(t.img, size=size) for t in chunk])
        msk = torch.stack([(load_image(t.mask, size=size, mode='L', min_side=1) >= 0.5).float() if t.mask else torch.zeros(1, size, size)
                           for t in chunk])
        lbl = torch.tensor([t.label for t in chunk])
        with torch.no_grad(): amap = amap_fn(x).float().clamp(0, 1)
        official.update(amap, msk, lbl); raw.update(amap, None, lbl)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        res, r1 = official.compute(), raw.compute()
    res = {k: float(v) for k, v in res.items()}
    res.update(image_auroc_max=float(r1['image_auroc']), image_ap_max=float(r1['image_ap']), n_test=len(items))
    return res

# ------------------------------------------------------------------------------------------------------ ours
def train_ours(a):
    import torch
    from fastai.callback.core import Callback, CancelFitException, CancelValidException
    from draem_nb.core import set_seed
    from draem_nb.data import MVTecCategory, draem_dataloaders
    from draem_nb.learner import draem_learner, draem_lr
    from draem_nb.models import anomaly_map

    class TimeBudget(Callback):
        "Stop training once `seconds` have passed; set the lr of `schedule` from the elapsed fraction of the budget."
        order = 6  # after DRAEMSchedule (5), which fit_draem runs with 'constant'
        def __init__(self, seconds, schedule, lr): self.seconds, self.schedule, self.lr, self.iters = seconds, schedule, lr, 0
        def before_fit(self): self.t0 = time.time()
        def before_validate(self): raise CancelValidException()  # evaluation happens once, at the end
        def before_batch(self):
            if not self.training: return
            pos = min((time.time() - self.t0) / self.seconds, 1.)
            if self.schedule == 'one_cycle': lr = draem_lr('one_cycle', self.lr, 0, 1, pos=pos)
            elif self.schedule == 'constant': lr = self.lr
            else: lr = draem_lr(self.schedule, self.lr, int(pos * 1000), 1000)  # official/paper milestones at fractions of the budget
            self.opt.set_hypers(lr=lr); self.last_lr = lr
        def after_batch(self):
            if not self.training: return
            self.iters += 1
            if time.time() - self.t0 >= self.seconds: raise CancelFitException()

    _one_thread()
    set_seed(a.seed)
    t_setup = time.time()
    cat = MVTecCategory(a.root)
    dls = draem_dataloaders(cat, size=a.size, bs=a.bs, device='cpu', seed=a.seed)
    learn = draem_learner(dls, textures=a.textures, rec_bw=a.rec_bw, seg_bw=a.seg_bw, lr=a.lr, sim_seed=a.seed, eval_every=None)
    learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == 'ProgressCallback'])
    learn.logger = lambda *o: None
    setup_s = time.time() - t_setup
    tb = TimeBudget(a.minutes * 60, a.schedule, a.lr)
    t0 = time.time()
    learn.fit_draem(10**6, schedule='constant', lr=a.lr, cbs=[tb])
    train_s = time.time() - t0
    model = learn.model.eval()
    t1 = time.time()
    res = evaluate_fn(lambda x: anomaly_map(model(x)[1]), a.root, a.size, a.bs)
    n_train = len(dls.train.dataset)
    return dict(res, library='draem_nb', train_seconds=round(train_s, 1), setup_seconds=round(setup_s, 1),
                eval_seconds=round(time.time() - t1, 1), iterations=tb.iters, epochs=round(tb.iters / math.ceil(n_train / a.bs), 2),
                sec_per_iter=round(train_s / max(tb.iters, 1), 3), lr=a.lr, schedule=f'{a.schedule} over the time budget',
                final_lr=getattr(tb, 'last_lr', None), driver='draem_nb Learner.fit_draem + TimeBudget callback',
                n_params=sum(p.numel() for p in model.parameters()))

# ------------------------------------------------------------------------------------------------------ anomalib
def _peer_model(a, lr):
    "anomalib's Draem Lightning module with small sub-networks, plain resize, and `lr` in its own optimizer setup."
    import torch
    from torchvision.transforms.v2 import Compose, Resize
    from anomalib.models import Draem
    from anomalib.models.image.draem.torch_model import ReconstructiveSubNetwork, DiscriminativeSubNetwork
    from anomalib.pre_processing import PreProcessor

    class BenchDraem(Draem):
        def configure_optimizers(self):
            opt = torch.optim.Adam(params=self.model.parameters(), lr=lr)  # anomalib: lr=0.0001 hard-coded
            return [opt], [torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[400, 600], gamma=0.1)]

    pre = PreProcessor(transform=Compose([Resize((a.size, a.size), antialias=False)]))
    m = BenchDraem(dtd_dir=a.textures, pre_processor=pre, post_processor=False, evaluator=False, visualizer=False)
    m.model.reconstructive_subnetwork = ReconstructiveSubNetwork(base_width=a.rec_bw)
    m.model.discriminative_subnetwork = DiscriminativeSubNetwork(in_channels=6, out_channels=2, base_width=a.seg_bw)
    return m

def _peer_engine(a, lr):
    import torch
    from lightning.pytorch import seed_everything
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    seed_everything(a.seed, workers=True)
    m = _peer_model(a, lr)
    root = Path(a.root)
    dm = MVTecAD(root=root.parent, category=root.name, train_batch_size=a.bs, eval_batch_size=a.bs, num_workers=0, seed=a.seed)
    engine = Engine(default_root_dir=Path(a.workdir)/'anomalib', logger=False, accelerator='cpu', devices=1,
                    max_epochs=10**6, max_time=dict(seconds=a.minutes * 60), limit_val_batches=0,
                    enable_progress_bar=False, enable_model_summary=False)
    t0 = time.time()
    engine.fit(model=m, datamodule=dm)
    train_s = time.time() - t0
    tr = engine.trainer
    return m.model, dict(train_seconds=round(train_s, 1), iterations=int(tr.global_step),
                         epochs=round(tr.global_step / max(tr.num_training_batches, 1), 2),
                         driver='anomalib Engine.fit (Lightning Trainer max_time)')

def _peer_loop(a, lr):
    "A minimal loop over anomalib's own components (its training_step, unrolled), stopped by the same time budget."
    import torch
    from draem_nb.data import MVTecCategory
    torch.manual_seed(a.seed)
    m = _peer_model(a, lr)
    x_all = MVTecCategory(a.root).load((a.size, a.size)).train.float() / 255
    model, gen, loss_fn = m.model.train(), m.augmenter, m.loss
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(a.seed)
    it, t0 = 0, time.time()
    while time.time() - t0 < a.minutes * 60:
        perm = torch.randperm(len(x_all), generator=g)
        for i in range(0, len(perm), a.bs):
            x = x_all[perm[i:i+a.bs]]
            aug, msk = gen(x)
            rec, pred = model(aug)
            loss = loss_fn(x, rec, msk, pred)
            opt.zero_grad(); loss.backward(); opt.step(); it += 1
            if time.time() - t0 >= a.minutes * 60: break
    return model, dict(train_seconds=round(time.time() - t0, 1), iterations=it, epochs=round(it / math.ceil(len(x_all) / a.bs), 2),
                       driver='minimal loop over anomalib PerlinAnomalyGenerator + DraemModel + DraemLoss + Adam')

def train_peer(a):
    import torch, anomalib
    _one_thread()
    lr = a.peer_lr if a.peer_lr is not None else a.lr
    engine_error = None
    t_all = time.time()
    if a.peer_driver == 'engine':
        try: model, info = _peer_engine(a, lr)
        except Exception as e:
            engine_error = f'{type(e).__name__}: {e}'
            print(f'anomalib Engine failed ({engine_error}); falling back to a minimal loop', file=sys.stderr)
            model, info = _peer_loop(a, lr)
    else: model, info = _peer_loop(a, lr)
    model = model.eval()
    t1 = time.time()
    res = evaluate_fn(lambda x: model(x).anomaly_map[:, None], a.root, a.size, a.bs)
    info.update(library=f'anomalib {anomalib.__version__}', eval_seconds=round(time.time() - t1, 1), lr=lr,
                schedule='constant in practice (MultiStepLR milestones 400/600 epochs not reached)',
                sec_per_iter=round(info['train_seconds'] / max(info['iterations'], 1), 3),
                setup_seconds=round(t1 - t_all - info['train_seconds'], 1), n_params=sum(p.numel() for p in model.parameters()))
    if engine_error: info['engine_error'] = engine_error
    return dict(res, **info)

# ------------------------------------------------------------------------------------------------------ driver
def peer_available():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import anomalib  # noqa: F401
            from anomalib.models import Draem  # noqa: F401
        return True, None
    except Exception as e: return False, f'{type(e).__name__}: {e}'

def _child_cmd(a, which, out_json):
    cmd = [sys.executable, str(Path(__file__).resolve()), '--child', which, '--child-out', str(out_json)]
    for k in ('root', 'textures', 'minutes', 'size', 'rec_bw', 'seg_bw', 'bs', 'lr', 'schedule', 'seed', 'workdir', 'peer_driver'):
        cmd += [f'--{k.replace("_", "-")}', str(getattr(a, k))]
    if a.peer_lr is not None: cmd += ['--peer-lr', str(a.peer_lr)]
    return cmd

def _ratios(o, p):
    return {k: round(o[k] / p[k], 4) for k in METRICS if isinstance(o.get(k), float) and isinstance(p.get(k), float) and p[k] > 0}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--which', default='both', choices=['ours', 'anomalib', 'both'])
    ap.add_argument('--minutes', type=float, default=30., help='training budget per library (wall clock)')
    ap.add_argument('--root', default='/work/shared/data/mvtec_ad/bottle')
    ap.add_argument('--textures', default='/work/shared/data/dtd_subset/images')
    ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--rec-bw', type=int, default=16)
    ap.add_argument('--seg-bw', type=int, default=16)
    ap.add_argument('--bs', type=int, default=8)
    ap.add_argument('--lr', type=float, default=1e-3, help='peak lr of ours; also anomalib\'s lr unless --peer-lr')
    ap.add_argument('--peer-lr', type=float, default=None)
    ap.add_argument('--schedule', default='one_cycle', choices=['one_cycle', 'constant', 'official', 'paper'], help='our lr schedule, over the time budget')
    ap.add_argument('--peer-driver', default='engine', choices=['engine', 'loop'])
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--workdir', default='/tmp/draem_peer_train', help='scratch folder (anomalib checkpoints, child results)')
    ap.add_argument('--out', default=str(REPO/'bench'/'results'/'peer_train.json'))
    ap.add_argument('--child', default=None, choices=['ours', 'anomalib'], help=argparse.SUPPRESS)
    ap.add_argument('--child-out', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.child:
        warnings.filterwarnings('ignore')
        res = train_ours(a) if a.child == 'ours' else train_peer(a)
        Path(a.child_out).write_text(json.dumps(res))
        return

    work = Path(a.workdir); work.mkdir(parents=True, exist_ok=True)
    sides = ['ours', 'anomalib'] if a.which == 'both' else [a.which]
    ok, why = peer_available()
    skipped = None
    if 'anomalib' in sides and not ok:
        skipped = f'anomalib peer skipped: not importable with {sys.executable} ({why})'
        print(skipped, flush=True)
        sides.remove('anomalib')
    if not sides: sys.exit('nothing to run')
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    procs = {}
    for s in sides:
        out_json = work/f'{s}.json'
        if out_json.exists(): out_json.unlink()
        log = open(work/f'{s}.log', 'w')
        procs[s] = (subprocess.Popen(_child_cmd(a, s, out_json), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), out_json, log)
    loads, done = [], threading.Event()
    def sample():
        while not done.is_set():
            loads.append(os.getloadavg()[0]); done.wait(15)
    th = threading.Thread(target=sample, daemon=True); th.start()
    t0 = time.time()
    results = {}
    for s, (p, out_json, log) in procs.items():
        rc = p.wait(); log.close()
        if rc == 0 and out_json.exists(): results[s] = json.loads(out_json.read_text())
        else:
            tail = (work/f'{s}.log').read_text()[-2000:]
            results[s] = dict(error=f'exit status {rc}', log_tail=tail)
    done.set(); th.join()
    wall = time.time() - t0
    load = dict(loadavg_1min_mean=round(sum(loads)/len(loads), 2) if loads else None, loadavg_1min_min=round(min(loads), 2) if loads else None,
                loadavg_1min_max=round(max(loads), 2) if loads else None, samples=len(loads), at_end=[round(v, 2) for v in os.getloadavg()],
                cpus=os.cpu_count())
    config = dict(root=a.root, textures=a.textures, size=a.size, rec_bw=a.rec_bw, seg_bw=a.seg_bw, bs=a.bs, lr=a.lr,
                  peer_lr=a.peer_lr if a.peer_lr is not None else a.lr, schedule_ours=a.schedule, peer_driver=a.peer_driver,
                  minutes_per_library=a.minutes, seed=a.seed, threads_per_process=1, concurrent=len(sides) > 1)
    summary = dict(command=' '.join([sys.executable] + sys.argv), config=config, load=load,
                   wall_seconds=round(wall, 1), machine=dict(cpu=platform.processor() or platform.machine(), python=platform.python_version()))
    for s in sides:
        line = dict(side=s, **results[s])
        print(json.dumps(line), flush=True)
        summary[s] = results[s]
    if skipped: summary['anomalib'] = dict(skipped=skipped)
    if 'ours' in results and 'anomalib' in results and 'error' not in results['ours'] and 'error' not in results['anomalib']:
        summary['comparison'] = dict(ratio_ours_over_anomalib=_ratios(results['ours'], results['anomalib']),
                                     iterations=dict(ours=results['ours']['iterations'], anomalib=results['anomalib']['iterations']))
        print(json.dumps(dict(side='comparison', **summary['comparison'], load=load)), flush=True)
    else: print(json.dumps(dict(side='summary', load=load, wall_seconds=summary['wall_seconds'])), flush=True)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f'wrote {out}', flush=True)
    if any('error' in r for r in results.values()): sys.exit(1)

if __name__ == '__main__': main()
