"fastai's distributed engine trains DRAEM on two CPU processes (gloo), the weights stay in sync across ranks."
import json, os, subprocess, sys
from pathlib import Path
import pytest

@pytest.mark.dev  # needs `accelerate` (a dev requirement; fastai's distrib_ctx uses it)
def test_two_cpu_processes_train_in_sync(tmp_path):
    pytest.importorskip('accelerate', reason='accelerate is a dev requirement; install it to run distributed training')
    script = Path(__file__).parent/'distrib_train.py'
    env = dict(os.environ, OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29533',
                        str(script), str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    infos = [json.loads((tmp_path/f'rank{i}.json').read_text()) for i in range(2)]
    assert [i['rank'] for i in infos] == [0, 1] and all(i['world'] == 2 and i['backend'] == 'gloo' for i in infos)
    assert [i['train_iters'] for i in infos] == [4, 4]  # 2 epochs of 8 images in batches of 2, sharded over 2 processes
    assert infos[0]['weights'] == infos[1]['weights']  # DDP keeps every rank's weights identical
    assert (tmp_path/'ckpt.pth').exists()
