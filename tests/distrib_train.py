"""Data-parallel DRAEM training with fastai's engine on N processes: `torchrun --nproc_per_node 2 tests/distrib_train.py OUT`.
Each rank writes OUT/rank<r>.json with what it saw; rank 0 also writes the checkpoint. Used by test_distributed.py."""
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
import torch.distributed as dist
from fastai.torch_core import rank_distrib, num_distrib
from draem_nb.core import set_seed
from draem_nb.data import make_demo_dataset, draem_dataloaders
from draem_nb.simulate import builtin_textures
from draem_nb.learner import draem_learner, distrib_draem

out = Path(sys.argv[1]); root = out/'demo'
if rank_distrib() == 0: make_demo_dataset(root, size=64, n_train=8, n_good=2, n_bad=2, seed=0)
else:
    while not (root/'ground_truth').exists(): time.sleep(0.1)
    time.sleep(0.5)
set_seed(0)
dls = draem_dataloaders(root, size=64, bs=2, device='cpu', seed=0)
learn = draem_learner(dls, textures=builtin_textures(64), rec_bw=8, seg_bw=8, sim_seed=0, eval_every=None, csv_log=None)
with distrib_draem(learn):
    info = dict(rank=rank_distrib(), world=num_distrib(), backend=dist.get_backend())
    learn.fit_draem(2, schedule='constant', checkpoint=out/'ckpt.pth')
    info['train_iters'] = learn.train_iter  # batches this process trained on
info['weights'] = {k: float(v.detach().double().sum()) for k, v in learn.model.named_parameters()}
(out/f'rank{rank_distrib()}.json').write_text(json.dumps(info))
