import pytest
import torch

from rnnlab.config import DataConfig, sequence_shape
from rnnlab.data import as_sequences, batches, default_data_dir, load_images, load_sequences, to_layout
from rnnlab.errors import UserError


def test_views_shapes_and_content() -> None:
    img = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)  # N=2, H=3, W=4
    assert torch.equal(as_sequences(img, "rows"), img)  # T = rows
    assert torch.equal(as_sequences(img, "cols")[0, 1], img[0, :, 1])  # step 1 = column 1
    px = as_sequences(img, "pixels")
    assert px.shape == (2, 12, 1) and torch.equal(px[1, :, 0], img[1].flatten())
    perm = as_sequences(img, "permuted", permute_seed=3)
    assert perm.shape == (2, 12, 1)
    assert torch.equal(perm[0, :, 0].sort().values, img[0].flatten())  # a permutation of the same pixels
    assert torch.equal(perm, as_sequences(img, "permuted", permute_seed=3))  # fixed by its seed
    assert not torch.equal(perm, as_sequences(img, "permuted", permute_seed=4))
    assert sequence_shape("mnist", "pixels") == (784, 1) and sequence_shape("digits", "rows") == (8, 8)


def test_layouts_carry_the_same_numbers() -> None:
    x = torch.randn(5, 7, 3)
    t = to_layout(x, "time")
    assert t.shape == (7, 5, 3) and torch.equal(t.transpose(0, 1), x)
    assert to_layout(x, "batch") is x


def test_batches_cover_every_sample_once_with_a_ragged_last_batch() -> None:
    x, y = torch.randn(10, 4, 2), torch.arange(10)
    seen = [yb for _, yb, _ in batches(x, y, 4, "time")]
    assert [len(b) for b in seen] == [4, 4, 2]
    assert torch.equal(torch.cat(seen), y)
    xb, _, lb = next(batches(x, y, 4, "time"))
    assert lb is None
    assert xb.shape == (4, 4, 2)  # (T, B, I)
    resumed = [yb for _, yb, _ in batches(x, y, 4, "batch", order=torch.arange(9, -1, -1), start=1)]
    assert torch.equal(torch.cat(resumed), torch.arange(5, -1, -1))


def test_digits_loads_offline_with_fixed_splits(digits) -> None:
    xtr, ytr = digits.train
    assert xtr.shape[1:] == (8, 8) and len(digits.test[1]) == 1797 // 5
    assert len(digits.val[1]) + len(ytr) + len(digits.test[1]) == 1797
    assert abs(xtr.mean().item()) < 0.1  # normalised with the training statistics
    again = load_sequences(DataConfig(dataset="digits"))
    assert torch.equal(again.val[0], digits.val[0])  # the validation split is drawn with a fixed seed
    small = load_sequences(DataConfig(dataset="digits", train_subset=100, test_subset=50, sequence="pixels"))
    assert small.train[0].shape == (100, 64, 1) and small.test[0].shape == (50, 64, 1)


def test_data_dir_precedence(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("RNNLAB_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_data_dir() == tmp_path / "cache" / "rnnlab"


def test_missing_mnist_names_the_folder_and_files(tmp_path, monkeypatch) -> None:
    import rnnlab.data as data

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torchvision.datasets.MNIST.download", offline)
    with pytest.raises(UserError) as info:
        data.load_images("mnist", str(tmp_path))
    msg = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "train-images-idx3-ubyte" in msg and "--dataset digits" in msg


def test_corrupt_mnist_is_a_clear_error(tmp_path, mnist_dir) -> None:
    import shutil
    from pathlib import Path

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (Path(mnist_dir) / "MNIST" / "raw").iterdir():
        if f.name.endswith("ubyte"):
            shutil.copy(f, raw / f.name)
    (raw / "t10k-images-idx3-ubyte").write_bytes((raw / "t10k-images-idx3-ubyte").read_bytes()[:5000])
    with pytest.raises(UserError, match="cannot read mnist|disagree"):
        load_images("mnist", str(tmp_path))


def test_real_mnist_loads(mnist_dir) -> None:
    d = load_sequences(DataConfig(dataset="mnist", data_dir=mnist_dir, val_fraction=5000 / 60000))
    assert (
        d.train[0].shape == (55000, 28, 28) and d.val[0].shape == (5000, 28, 28) and d.test[0].shape == (10000, 28, 28)
    )
    assert set(d.test[1].unique().tolist()) == set(range(10))
