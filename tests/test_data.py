"Tests of `draem_nb.data` on generated data (the MVTec bottle test skips when the shared data is absent)."
import random, warnings
from pathlib import Path
import numpy as np
import pytest
import torch
from PIL import Image
from draem_nb import data as D
from draem_nb.data import (MVTecCategory, FolderCategory, DatasetError, make_demo_dataset, draem_dataloaders,
                           demo_sample, image_files, DEMO_DEFECTS)

BOTTLE = Path(__file__).resolve().parents[2]/'shared'/'data'/'mvtec_ad'/'bottle'
rng = np.random.default_rng(0)

def png(path, arr, **kw):
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw); return path

def rimg(h=40, w=40): return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
def square_mask(h=40, w=40):
    m = np.zeros((h, w), np.uint8); m[8:24, 10:30] = 255; return m

def mvtec(root, n_train=3, good=2, defects=(('crack', 2),), mask_hw=(40, 40)):
    root = Path(root)
    for i in range(n_train): png(root/'train/good'/f'{i:03d}.png', rimg())
    for i in range(good): png(root/'test/good'/f'{i:03d}.png', rimg())
    for d, n in defects:
        for i in range(n):
            png(root/'test'/d/f'{i:03d}.png', rimg())
            png(root/'ground_truth'/d/f'{i:03d}_mask.png', square_mask(*mask_hw))
    return root

def quiet(f, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); return f(*a, **kw)

@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp('demo')/'demo', size=64, n_train=6, n_good=3, n_bad=7, write_clean=True)

# ---------------------------------------------------------------- image_files
def test_image_files_sorted_any_ext(tmp_path):
    for n in ['b.png', 'a.JPG', 'c.jpeg', 'd.bmp', 'e.TIF', '.hidden.png']: png(tmp_path/n, rimg())
    (tmp_path/'notes.txt').write_text('x'); (tmp_path/'sub.png').mkdir()
    assert [p.name for p in image_files(tmp_path)] == ['a.JPG', 'b.png', 'c.jpeg', 'd.bmp', 'e.TIF']
    with pytest.raises(FileNotFoundError, match='nope: no such folder'): image_files(tmp_path/'nope')

# ---------------------------------------------------------------- MVTec reader
def test_mvtec_reads_layout(tmp_path):
    root = mvtec(tmp_path/'cat', defects=(('crack', 2), ('hole', 1)))
    cat = MVTecCategory(str(root))
    assert cat.root == root and cat.name == 'cat'
    assert [p.name for p in cat.train] == ['000.png', '001.png', '002.png']
    assert [(t.img.parent.name, t.img.name, t.label, t.defect) for t in cat.test] == [
        ('crack', '000.png', 1, 'crack'), ('crack', '001.png', 1, 'crack'), ('good', '000.png', 0, 'good'),
        ('good', '001.png', 0, 'good'), ('hole', '000.png', 1, 'hole')]
    assert cat.test[0].mask == root/'ground_truth/crack/000_mask.png'
    assert cat.test[2].mask is None
    img, msk, lbl, dfc = cat.test[4]
    assert (msk.name, lbl, dfc) == ('000_mask.png', 1, 'hole')
    assert cat.n_masks == 3 and cat.labels == [1, 1, 0, 0, 1]
    assert cat.defects == {'good': 2, 'crack': 2, 'hole': 1}
    assert "MVTecCategory('cat'): 3 train, 5 test (good 2, crack 2, hole 1), 3 masks" == repr(cat)

def test_mvtec_mask_names_and_extensions(tmp_path):
    root = mvtec(tmp_path/'cat', defects=())
    png(root/'test/dent/a.jpg', rimg()); png(root/'ground_truth/dent/a.png', square_mask())            # mask named by stem
    png(root/'test/dent/b.bmp', rimg()); png(root/'ground_truth/dent/b_mask.tif', square_mask())      # other extensions
    cat = MVTecCategory(root)
    assert [(t.img.name, t.mask.name) for t in cat.test if t.label] == [('a.jpg', 'a.png'), ('b.bmp', 'b_mask.tif')]

def test_mvtec_missing_root_and_train(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere: no such folder'): MVTecCategory(tmp_path/'nowhere')
    (tmp_path/'flat').mkdir()
    with pytest.raises(FileNotFoundError, match='no train/good folder, so this is not an MVTec-layout category'):
        MVTecCategory(tmp_path/'flat')
    mvtec(tmp_path/'bottle'); mvtec(tmp_path/'cable')
    with pytest.raises(FileNotFoundError, match=r'it holds categories \(bottle, cable\): pass one of them'): MVTecCategory(tmp_path)

def test_mvtec_empty_train(tmp_path):
    root = mvtec(tmp_path/'cat', n_train=0); (root/'train/good').mkdir(parents=True, exist_ok=True)
    (root/'train/good/readme.txt').write_text('no images here')
    with pytest.raises(DatasetError, match='cat: no training images in .*train/good'): MVTecCategory(root)

def test_mvtec_defective_without_mask(tmp_path):
    root = mvtec(tmp_path/'cat', defects=(('crack', 3),))
    (root/'ground_truth/crack/001_mask.png').unlink(); (root/'ground_truth/crack/002_mask.png').unlink()
    with pytest.raises(DatasetError, match=r'2 defective test image\(s\) have no mask') as e: MVTecCategory(root)
    assert 'test/crack/001.png (looked for' in str(e.value) and 'ground_truth/crack/002_mask.png' in str(e.value)
    root2 = mvtec(tmp_path/'cat2', defects=(('crack', 1),)); import shutil; shutil.rmtree(root2/'ground_truth')
    with pytest.raises(DatasetError, match=r'1 defective test image\(s\) have no mask'): MVTecCategory(root2)

def test_mvtec_no_test_folder_warns(tmp_path):
    root = mvtec(tmp_path/'cat', good=0, defects=())
    with pytest.warns(UserWarning, match='no test folder'): cat = MVTecCategory(root)
    assert cat.test == [] and len(cat.train) == 3

def test_duplicate_mask_stems(tmp_path):
    root = mvtec(tmp_path/'cat')
    png(root/'ground_truth/crack/000_mask.jpg', square_mask())
    with pytest.raises(DatasetError, match="two files share the stem '000_mask'"): MVTecCategory(root)

# ---------------------------------------------------------------- corrupt files
def test_corrupt_files_refused_listing_all(tmp_path):
    root = mvtec(tmp_path/'cat')
    (root/'train/good/001.png').write_bytes(b'not a png')
    (root/'test/good/000.png').write_bytes(png(tmp_path/'x.png', rimg()).read_bytes()[:100])  # truncated
    (root/'ground_truth/crack/001_mask.png').write_bytes(b'')
    with pytest.raises(DatasetError) as e: MVTecCategory(root)
    msg = str(e.value)
    assert '3 unreadable file(s) (pass skip_bad=True' in msg
    assert 'train/good/001.png: not an image' in msg
    assert 'test/good/000.png: corrupt or truncated' in msg
    assert 'crack/001_mask.png: empty file' in msg

def test_skip_bad_warns_and_counts(tmp_path):
    root = mvtec(tmp_path/'cat')
    (root/'train/good/001.png').write_bytes(b'not a png')
    (root/'ground_truth/crack/001_mask.png').write_bytes(b'')
    with pytest.warns(UserWarning, match=r'skip_bad=True left out 2 unreadable file\(s\)'):
        cat = MVTecCategory(root, skip_bad=True)
    assert [p.name for p in cat.train] == ['000.png', '002.png']
    assert [(t.defect, t.img.name) for t in cat.test] == [('crack', '000.png'), ('good', '000.png'), ('good', '001.png')]

def test_skip_bad_with_nothing_left(tmp_path):
    root = mvtec(tmp_path/'cat', n_train=1)
    (root/'train/good/000.png').write_bytes(b'junk')
    with pytest.raises(DatasetError, match='no readable training image is left'): quiet(MVTecCategory, root, skip_bad=True)

def test_check_false_defers_errors_to_load(tmp_path):
    root = mvtec(tmp_path/'cat'); (root/'train/good/001.png').write_bytes(b'junk')
    cat = MVTecCategory(root, check=False)
    with pytest.raises(ValueError, match='001.png: not an image'): cat.load(32)

# ---------------------------------------------------------------- mask checks
def test_mask_size_same_aspect_resized_with_warning(tmp_path):
    root = mvtec(tmp_path/'cat', defects=(('crack', 2),), mask_hw=(20, 20))
    with pytest.warns(UserWarning, match=r'2 mask\(s\) differ in size from their image; they are resized'):
        cat = MVTecCategory(root)
    t = cat.load(40)
    assert t.masks.shape == (4, 1, 40, 40)
    assert t.masks[0].sum() == ((square_mask(20, 20) > 0).sum() * 4)  # the 2x upscaled square

def test_mask_other_aspect_refused(tmp_path):
    root = mvtec(tmp_path/'cat', defects=(('crack', 2),), mask_hw=(40, 20))
    with pytest.raises(DatasetError, match=r"2 mask\(s\) do not have their image's aspect ratio") as e: MVTecCategory(root)
    assert 'is 40x40, its mask' in str(e.value) and 'is 20x40' in str(e.value)

def test_non_binary_masks_thresholded(tmp_path):
    root = mvtec(tmp_path/'cat', defects=())
    grad = np.tile(np.linspace(0, 255, 40).round().astype(np.uint8), (40, 1))
    png(root/'test/stain/000.png', rimg()); png(root/'ground_truth/stain/000_mask.png', grad)
    with pytest.warns(UserWarning, match=r'1 mask\(s\) are not binary .* thresholded at 0.5'): cat = MVTecCategory(root)
    m = cat.load(40).masks[-1, 0]
    assert m.dtype == torch.uint8 and m.unique().tolist() == [0, 1]
    assert torch.equal(m, torch.from_numpy(grad >= 127.5).to(torch.uint8))

def test_empty_mask_on_defective_warns(tmp_path):
    root = mvtec(tmp_path/'cat', defects=())
    png(root/'test/stain/000.png', rimg()); png(root/'ground_truth/stain/000_mask.png', np.zeros((40, 40), np.uint8))
    with pytest.warns(UserWarning, match=r'1 defective test image\(s\) have an all-zero mask'): MVTecCategory(root)

# ---------------------------------------------------------------- plain folders
def folders(tmp_path):
    for i in range(3): png(tmp_path/'normal'/f'n{i}.jpg', rimg())
    for i in range(2): png(tmp_path/'ok'/f'k{i}.png', rimg())
    png(tmp_path/'bad'/'d0.png', rimg()); png(tmp_path/'bad'/'d1.jpeg', rimg())
    png(tmp_path/'masks'/'d0.png', square_mask()); png(tmp_path/'masks'/'d1_mask.png', square_mask())
    return tmp_path

def test_folder_category(tmp_path):
    f = folders(tmp_path)
    cat = FolderCategory(f/'normal', f/'ok', f/'bad', f/'masks')
    assert [p.name for p in cat.train] == ['n0.jpg', 'n1.jpg', 'n2.jpg']
    assert [(t.img.name, t.mask.name if t.mask else None, t.label, t.defect) for t in cat.test] == [
        ('k0.png', None, 0, 'good'), ('k1.png', None, 0, 'good'), ('d0.png', 'd0.png', 1, 'bad'), ('d1.jpeg', 'd1_mask.png', 1, 'bad')]
    assert FolderCategory(str(f/'normal')).test == []
    assert [t.label for t in FolderCategory(f/'normal', test_good_dir=f/'ok').test] == [0, 0]
    assert [t.label for t in FolderCategory(f/'normal', test_bad_dir=f/'bad', mask_dir=f/'masks').test] == [1, 1]
    t = cat.load(32)
    assert t.train.shape == (3, 3, 32, 32) and t.masks.shape == (4, 1, 32, 32) and t.labels.tolist() == [0, 0, 1, 1]

def test_folder_category_errors(tmp_path):
    f = folders(tmp_path)
    with pytest.raises(DatasetError, match='needs mask_dir'): FolderCategory(f/'normal', test_bad_dir=f/'bad')
    with pytest.raises(DatasetError, match='without test_bad_dir'): FolderCategory(f/'normal', mask_dir=f/'masks')
    with pytest.raises(FileNotFoundError, match='nothing: no such folder'): FolderCategory(f/'nothing')
    with pytest.raises(FileNotFoundError, match='gone: no such folder'): FolderCategory(f/'normal', f/'gone')
    with pytest.raises(DatasetError, match=r'2 defective test image\(s\) have no mask') as e:
        FolderCategory(f/'normal', test_bad_dir=f/'bad', mask_dir=f/'ok')
    assert 'd1.* or d1_mask.*' in str(e.value)
    (f/'empty').mkdir()
    with pytest.raises(DatasetError, match='empty: no training images in'): FolderCategory(f/'empty')
    (f/'normal'/'n1.jpg').write_bytes(b'oops')
    with pytest.raises(DatasetError, match=r'1 unreadable file\(s\).*\n.*n1.jpg: not an image'): FolderCategory(f/'normal')
    with pytest.warns(UserWarning, match='left out 1 unreadable'): assert len(FolderCategory(f/'normal', skip_bad=True).train) == 2

# ---------------------------------------------------------------- load / resize
def test_load_resizes_like_official_and_caches(tmp_path):
    root = mvtec(tmp_path/'cat')
    cat = MVTecCategory(root)
    t = cat.load(64)
    assert cat.load(64) is t
    assert t.train.dtype == torch.uint8 and t.train.shape == (3, 3, 64, 64)
    import cv2
    src = np.array(Image.open(cat.train[0]))
    ref = cv2.resize(src, (64, 64), interpolation=cv2.INTER_LINEAR)  # the official resize
    assert np.abs(t.train[0].permute(1, 2, 0).numpy().astype(int) - ref.astype(int)).max() <= 1
    assert cat.load((32, 96)).test.shape == (4, 3, 32, 96)

# ---------------------------------------------------------------- the demo dataset
def test_demo_loads_with_mvtec_reader(demo):
    cat = MVTecCategory(demo)
    assert (len(cat.train), len(cat.test), cat.n_masks) == (6, 10, 7)
    assert set(cat.defects) == {'good', *DEMO_DEFECTS}
    assert cat.defects['scratch'] == 2 and cat.defects['crack'] == 2 and cat.defects['hole'] == 1
    t = cat.load(64)
    assert t.train.shape == (6, 3, 64, 64) and t.masks.shape == (10, 1, 64, 64)
    assert (t.masks.flatten(1).amax(1) == t.labels).all()

def test_demo_masks_are_exactly_the_changed_pixels(demo):
    for t in MVTecCategory(demo).test:
        if t.label == 0: continue
        img = np.array(Image.open(t.img)); clean = np.array(Image.open(demo/'clean'/t.defect/t.img.name))
        m = np.array(Image.open(t.mask))
        assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 255}
        assert np.array_equal((img != clean).any(-1), m == 255), t.img
        assert 0.004 < (m > 0).mean() < 0.15, (t.img, (m > 0).mean())
        cl, im, mk = demo_sample(int(t.img.stem), t.defect, size=64)   # re-rendered: the same pixels
        assert np.array_equal(cl, clean) and np.array_equal(im, img) and np.array_equal(mk, m == 255)

@pytest.mark.parametrize('kind', DEMO_DEFECTS)
def test_demo_each_kind_at_128(kind):
    for i in range(3):
        clean, img, msk = demo_sample(i, kind, size=128, seed=5)
        assert img.shape == (128, 128, 3) and msk.shape == (128, 128) and msk.dtype == bool
        assert np.array_equal((img != clean).any(-1), msk)
        assert msk.sum() >= 60, (kind, i, msk.sum())   # clearly visible, not a few pixels
        d = np.abs(img.astype(int) - clean.astype(int)).max(-1)[msk]
        assert np.median(d) >= 30, (kind, i, np.median(d))  # contrasting, not a faint change

def test_demo_deterministic(tmp_path):
    a = make_demo_dataset(tmp_path/'a', size=32, n_train=2, n_good=1, n_bad=5, seed=3)
    b = make_demo_dataset(tmp_path/'b', size=32, n_train=2, n_good=1, n_bad=5, seed=3)
    c = make_demo_dataset(tmp_path/'c', size=32, n_train=2, n_good=1, n_bad=5, seed=4)
    files = sorted(p.relative_to(a) for p in a.rglob('*.png'))
    assert len(files) == 2 + 1 + 5 + 5
    assert all((a/f).read_bytes() == (b/f).read_bytes() for f in files)
    assert any((a/f).read_bytes() != (c/f).read_bytes() for f in files)
    assert not np.array_equal(demo_sample(0, split='train', size=32)[1], demo_sample(0, split='test', size=32)[1])

def test_demo_normals_homogeneous():
    imgs = np.stack([demo_sample(i, split='train', size=64)[1] for i in range(20)]).astype(float)
    means = imgs.mean((1, 2))
    assert means.std(0).max() < 12  # one texture, small jitter

def test_demo_errors(tmp_path):
    root = make_demo_dataset(tmp_path/'d', size=32, n_train=1, n_good=1, n_bad=1)
    with pytest.raises(FileExistsError, match='pass overwrite=True'): make_demo_dataset(root, size=32)
    make_demo_dataset(root, size=32, n_train=2, n_good=0, n_bad=2, overwrite=True)
    cat = MVTecCategory(root)
    assert (len(cat.train), len(cat.test)) == (2, 2)
    with pytest.raises(ValueError, match='kind must be one of'): make_demo_dataset(tmp_path/'e', kinds=('dent',))
    with pytest.raises(ValueError, match='texture must be one of'): D.demo_texture('marble')
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"): demo_sample(0, split='valid')
    with pytest.raises(ValueError, match='kind must be one of'): demo_sample(0, 'dent')

# ---------------------------------------------------------------- DataLoaders
def test_dataloaders_contract(demo):
    dls = draem_dataloaders(demo, size=64, bs=4, device='cpu', seed=0)
    assert dls.n_inp == 1 and dls.train.n_inp == 1 and dls.valid.n_inp == 1
    tb = list(dls.train)
    assert [len(b) for b in tb] == [1, 1] and [len(b[0]) for b in tb] == [4, 2]     # drop_last=False
    x = tb[0][0]
    assert x.shape == (4, 3, 64, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    vb = list(dls.valid)
    img, msk, lbl = vb[0]
    assert img.shape == (4, 3, 64, 64) and img.dtype == torch.float32
    assert msk.shape == (4, 1, 64, 64) and msk.dtype == torch.float32 and set(msk.unique().tolist()) <= {0., 1.}
    assert lbl.shape == (4,) and lbl.dtype == torch.long
    cat = dls.category
    assert torch.cat([b[2] for b in vb]).tolist() == cat.labels                       # file order
    t = cat.load(64)
    assert torch.equal(torch.cat([b[0] for b in vb]), t.test.float() / 255)
    assert torch.equal(torch.cat([b[1] for b in vb]), t.masks.float())
    assert dls.size == (64, 64) and dls.path == demo
    assert draem_dataloaders(demo, size=64, bs=4, valid_bs=10, device='cpu').valid.one_batch()[0].shape[0] == 10

def test_dataloaders_shuffle_seeded(demo):
    def order(seed):
        dls = draem_dataloaders(demo, size=32, bs=2, device='cpu', seed=seed)
        return [torch.cat([b[0] for b in dls.train]) for _ in range(2)]
    a, b, c = order(1), order(1), order(2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])      # same seed, same epochs
    assert not torch.equal(a[0], a[1])                              # a new order each epoch
    assert not torch.equal(a[0], c[0])
    srt = lambda x: x.flatten(1).sum(1).sort().values
    assert torch.allclose(srt(a[0]), srt(MVTecCategory(demo).load(32).train.float() / 255))  # every image once

def test_dataloaders_size_checks_and_inputs(demo, tmp_path):
    with pytest.raises(ValueError, match=r'size must be a positive multiple of 32 .* got 100; try 96'):
        draem_dataloaders(demo, size=100)
    with pytest.raises(ValueError, match='size must be a positive multiple of 32'): draem_dataloaders(demo, size=(64, 48))
    dls = draem_dataloaders(str(demo), size=(32, 64), bs=2, device='cpu')
    assert dls.train.one_batch()[0].shape == (2, 3, 32, 64)
    assert dls.device == torch.device('cpu')
    assert draem_dataloaders(demo, size=32, bs=2).device == D.best_device()
    with pytest.raises(FileNotFoundError, match='no such folder'): draem_dataloaders(tmp_path/'none', size=32)
    root = mvtec(tmp_path/'notest', good=0, defects=())
    with pytest.warns(UserWarning, match='validation loader is empty'):
        dls = quiet_test_folder(root)
    assert len(dls.valid) == 0 and len(dls.train) == 2

def quiet_test_folder(root):
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*no test folder.*')
        cat = MVTecCategory(root)
    return draem_dataloaders(cat, size=32, bs=2, device='cpu')

def test_folder_category_dataloaders(tmp_path):
    f = folders(tmp_path)
    dls = draem_dataloaders(FolderCategory(f/'normal', f/'ok', f/'bad', f/'masks'), size=32, bs=2, device='cpu')
    img, msk, lbl = dls.valid.one_batch()
    assert lbl.tolist() == [0, 0] and msk.sum() == 0
    assert [b[2].tolist() for b in dls.valid] == [[0, 0], [1, 1]]

def test_dataloaders_with_workers(demo):
    dls = draem_dataloaders(demo, size=32, bs=3, device='cpu', num_workers=1, seed=0)
    assert sum(len(b[0]) for b in dls.train) == 6
    assert torch.cat([b[2] for b in dls.valid]).tolist() == MVTecCategory(demo).labels

def test_show_batch_and_fastai_learner(demo):
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    from fastai.learner import Learner
    dls = draem_dataloaders(demo, size=32, bs=4, device='cpu', seed=0)
    plt.close('all'); dls.valid.show_batch(max_n=4)
    fig = plt.gcf(); assert len([a for a in fig.axes if a.images]) == 4
    assert any(a.collections for a in fig.axes)                       # the mask outline of the defective one
    dls.show_batch(max_n=2); plt.close('all')
    class Tiny(torch.nn.Module):
        def __init__(self): super().__init__(); self.c = torch.nn.Conv2d(3, 3, 3, padding=1)
        def forward(self, x): return self.c(x)
    seen = []
    def loss(pred, *yb): seen.append(len(yb)); return ((pred - 0.5)**2).mean()
    from fastai.callback.core import Callback
    class FakeSimulator(Callback):  # the real simulator callback gives training batches their target this way
        def before_batch(self):
            if self.training: seen.append(('train', len(self.yb))); self.learn.yb = (self.xb[0],)
    learn = Learner(dls, Tiny(), loss_func=loss, cbs=FakeSimulator())
    with learn.no_logging(): learn.fit(1, 1e-3)
    assert seen == [('train', 0), 1, ('train', 0), 1, 2, 2, 2]   # train (img,) only; valid (img | msk, lbl)

# ---------------------------------------------------------------- widget
def test_browse_category(demo):
    import matplotlib; matplotlib.use('Agg')
    cat = MVTecCategory(demo)
    w = D.browse_category(cat, size=32)
    w.children[0].value = 3
    assert w.result['defect'] == cat.test[3].defect and w.result['file'] == cat.test[3].img.name
    good = [i for i, t in enumerate(cat.test) if t.label == 0][0]
    w.children[0].value = good
    assert w.result['label'] == 0 and w.result['mask_frac'] == 0
    assert D.browse_category(cat, 32, 'train').result['label'] == 0
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"): D.browse_category(cat, 32, 'valid')
    import matplotlib.pyplot as plt; plt.close('all')

# ---------------------------------------------------------------- real data (optional)
@pytest.mark.skipif(not BOTTLE.is_dir(), reason='MVTec AD bottle is not at ../shared/data/mvtec_ad/bottle')
def test_mvtec_bottle():
    cat = MVTecCategory(BOTTLE)
    assert (len(cat.train), len(cat.test), cat.n_masks) == (209, 83, 63)
    assert cat.defects == {'good': 20, 'broken_large': 20, 'broken_small': 22, 'contamination': 21}
    t = cat.load(64)
    assert t.train.shape == (209, 3, 64, 64) and t.test.shape == (83, 3, 64, 64) and t.masks.shape == (83, 1, 64, 64)
    assert ((t.masks.flatten(1).amax(1) > 0).long() == t.labels).all()
