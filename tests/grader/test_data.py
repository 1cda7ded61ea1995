"""Tests for grader.data: reading, caching, writing, synthesis and download of CIFAR-10."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import data as gdata
from grader.data import (
    Cifar10,
    DatasetError,
    download_cifar10,
    find_batches_dir,
    load_cifar10,
    make_synthetic,
    save_cifar10_format,
)

SUBSET = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10-subset"
DOWNLOAD_HINT = "autograder data download DIR"


@pytest.fixture
def small() -> tuple[torch.Tensor, ...]:
    return make_synthetic(53, 17, seed=3)


@pytest.fixture
def batches(tmp_path: Path, small: tuple[torch.Tensor, ...]) -> Path:
    return save_cifar10_format(tmp_path / "ds", *small)


def _assert_same(ds: Cifar10, tensors: tuple[torch.Tensor, ...]) -> None:
    got = (ds.train_images, ds.train_labels, ds.test_images, ds.test_labels)
    for a, b in zip(got, tensors):
        assert a.dtype == b.dtype and torch.equal(a, b)


def _assert_names(err: DatasetError, path: Path | str) -> None:
    msg = str(err)
    assert str(path) in msg
    assert DOWNLOAD_HINT in msg


# ----------------------------------------------------------------------------- round trip


def test_round_trip_is_exact(tmp_path: Path, small: tuple[torch.Tensor, ...]) -> None:
    out = save_cifar10_format(tmp_path, *small)
    assert out == tmp_path / "cifar-10-batches-py"
    ds = load_cifar10(tmp_path, cache=False)
    _assert_same(ds, small)
    assert ds.train_images.shape == (53, 3, 32, 32)


def test_written_files_follow_official_layout(batches: Path, small: tuple[torch.Tensor, ...]) -> None:
    names = sorted(p.name for p in batches.iterdir())
    assert names == ["batches.meta", *[f"data_batch_{i}" for i in range(1, 6)], "test_batch"]
    with (batches / "data_batch_2").open("rb") as f:
        b = pickle.load(f, encoding="bytes")
    assert set(b) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert b[b"data"].dtype == np.uint8 and b[b"data"].shape[1] == 3072
    assert all(type(v) is int for v in b[b"labels"])
    # channel-major rows: the first 1024 values are the red plane of the image
    first = int(np.linspace(0, 53, 6).astype(int)[1])
    assert np.array_equal(b[b"data"][0, :1024], small[0][first, 0].flatten().numpy())
    with (batches / "batches.meta").open("rb") as f:
        meta = pickle.load(f, encoding="bytes")
    assert meta[b"label_names"][0] == b"airplane" and len(meta[b"label_names"]) == 10


def test_find_batches_dir_accepts_folder_or_parent(batches: Path) -> None:
    assert find_batches_dir(batches) == batches
    assert find_batches_dir(batches.parent) == batches


def test_find_batches_dir_rejects_other_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as ei:
        find_batches_dir(tmp_path)
    _assert_names(ei.value, tmp_path)
    with pytest.raises(DatasetError) as ei:
        find_batches_dir(tmp_path / "nope")
    _assert_names(ei.value, tmp_path / "nope")


def test_dataset_error_survives_pickling(tmp_path: Path) -> None:
    err = pickle.loads(pickle.dumps(DatasetError(tmp_path, "broken")))
    assert err.path == str(tmp_path) and err.problem == "broken"
    _assert_names(err, tmp_path)


# ----------------------------------------------------------------------------- real subset


def test_real_subset_loads() -> None:
    if not (SUBSET / "cifar-10-batches-py").is_dir():
        pytest.skip(f"real CIFAR-10 subset not present at {SUBSET}")
    # cache=False: the shared folder must stay untouched
    ds = load_cifar10(SUBSET, cache=False)
    assert ds.train_images.shape == (5170, 3, 32, 32)
    assert ds.test_images.shape == (1017, 3, 32, 32)
    assert ds.train_labels.shape == (5170,) and ds.test_labels.shape == (1017,)
    assert ds.train_images.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64
    assert set(ds.train_labels.unique().tolist()) == set(range(10))
    # real photos: not constant, and the mean brightness is near CIFAR's mean
    assert abs(ds.train_images.float().mean().item() / 255 - 0.47) < 0.05
    assert {p.name for p in (SUBSET / "cifar-10-batches-py").iterdir()} == {*gdata.TRAIN_FILES, gdata.TEST_FILE, gdata.META_FILE}


# ----------------------------------------------------------------------------- cache


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry of a folder (hidden ones too) with its mode, mtime and content digest."""
    return {p.name: (p.stat().st_mode, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.iterdir())}


def test_cache_lives_in_cache_dir_and_the_data_folder_is_unchanged(
        batches: Path, tmp_path: Path, small: tuple[torch.Tensor, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = tmp_path / "cache"
    before = _snapshot(batches)
    first = load_cifar10(batches, cache_dir=cache_dir)
    assert _snapshot(batches) == before
    assert [p.name for p in cache_dir.iterdir()] == [gdata.cache_path(batches, cache_dir).name]

    monkeypatch.setattr(gdata, "_parse_batch", lambda *_: pytest.fail("batch files parsed although the cache is valid"))
    _assert_same(load_cifar10(batches, cache_dir=cache_dir), small)
    _assert_same(first, small)


def test_read_only_data_folder_is_cached_elsewhere(batches: Path, tmp_path: Path, small: tuple[torch.Tensor, ...]) -> None:
    batches.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        before = _snapshot(batches)
        _assert_same(load_cifar10(batches, cache_dir=tmp_path / "cache"), small)
        _assert_same(load_cifar10(batches, cache_dir=tmp_path / "cache"), small)
        assert _snapshot(batches) == before
        assert len(list((tmp_path / "cache").glob("cifar10-*.pt"))) == 1
    finally:
        batches.chmod(0o755)


def test_cache_is_keyed_by_content(batches: Path, tmp_path: Path, small: tuple[torch.Tensor, ...]) -> None:
    cache_dir = tmp_path / "cache"
    load_cifar10(batches, cache_dir=cache_dir)
    copy = save_cifar10_format(tmp_path / "copy", *small)  # same content elsewhere: same entry
    assert gdata.cache_path(copy, cache_dir) == gdata.cache_path(batches, cache_dir)
    new = make_synthetic(53, 17, seed=99)
    save_cifar10_format(batches.parent, *new)  # same names and sizes, other bytes
    _assert_same(load_cifar10(batches, cache_dir=cache_dir), new)
    assert len(list(cache_dir.glob("cifar10-*.pt"))) == 2


def test_no_cache_without_cache_dir_or_when_disabled(batches: Path, tmp_path: Path) -> None:
    before = _snapshot(batches)
    load_cifar10(batches)
    load_cifar10(batches, cache=False, cache_dir=tmp_path / "cache")
    assert _snapshot(batches) == before and not (tmp_path / "cache").exists()


def test_corrupt_cache_is_rebuilt(batches: Path, tmp_path: Path, small: tuple[torch.Tensor, ...]) -> None:
    cache_dir = tmp_path / "cache"
    load_cifar10(batches, cache_dir=cache_dir)
    path = gdata.cache_path(batches, cache_dir)
    path.write_bytes(b"not a torch file")
    _assert_same(load_cifar10(batches, cache_dir=cache_dir), small)
    assert torch.load(path, weights_only=True)["version"] == gdata._CACHE_VERSION


# ----------------------------------------------------------------------------- corruption


def test_missing_file(batches: Path) -> None:
    (batches / "data_batch_3").unlink()
    with pytest.raises(DatasetError) as ei:
        load_cifar10(batches)
    _assert_names(ei.value, batches / "data_batch_3")


@pytest.mark.parametrize("payload", [b"", b"garbage that is not a pickle", b"\x80\x04\x95"])
def test_corrupt_file(batches: Path, payload: bytes) -> None:
    (batches / "data_batch_1").write_bytes(payload)
    with pytest.raises(DatasetError) as ei:
        load_cifar10(batches, cache=False)
    _assert_names(ei.value, batches / "data_batch_1")


def _write_batch(path: Path, obj: object) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=2)


def _good_batch(n: int = 4) -> dict[bytes, object]:
    return {b"data": np.zeros((n, 3072), np.uint8), b"labels": list(range(n))}


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda b: b.update({b"labels": [0, 1, 2, 10]}), "labels outside"),
        (lambda b: b.update({b"labels": [0, 1, -1, 2]}), "labels outside"),
        (lambda b: b.update({b"labels": [0, 1, 2]}), "labels for 4 images"),
        (lambda b: b.update({b"labels": ["a", "b", "c", "d"]}), "not integers"),
        (lambda b: b.update({b"data": np.zeros((4, 3000), np.uint8)}), "uint8"),
        (lambda b: b.update({b"data": np.zeros((4, 3072), np.float32)}), "uint8"),
        (lambda b: b.pop(b"labels"), "no `labels`"),
        (lambda b: b.pop(b"data"), "no `data`"),
    ],
)
def test_invalid_batch_contents(batches: Path, mutate, words: str) -> None:
    batch = _good_batch()
    mutate(batch)
    _write_batch(batches / "test_batch", batch)
    with pytest.raises(DatasetError) as ei:
        load_cifar10(batches, cache=False)
    _assert_names(ei.value, batches / "test_batch")
    assert words in str(ei.value)


def test_not_a_dict(batches: Path) -> None:
    _write_batch(batches / "data_batch_5", [1, 2, 3])
    with pytest.raises(DatasetError, match="expected a dict"):
        load_cifar10(batches, cache=False)


def test_string_keys_accepted(batches: Path) -> None:
    _write_batch(batches / "test_batch", {"data": np.full((2, 3072), 7, np.uint8), "labels": [3, 4]})
    ds = load_cifar10(batches, cache=False)
    assert ds.test_labels.tolist() == [3, 4]
    assert (ds.test_images == 7).all()


class _Evil:
    def __init__(self, func: object, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return self.func, (self.arg,)


@pytest.mark.parametrize("func", [os.system, exec])
def test_restricted_unpickler_refuses_code(batches: Path, tmp_path: Path, func: object) -> None:
    marker = tmp_path / "pwned"
    arg = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w').close()"
    _write_batch(batches / "data_batch_1", {b"data": _Evil(func, arg), b"labels": [0]})
    with pytest.raises(DatasetError) as ei:
        load_cifar10(batches, cache=False)
    assert "disallowed global" in str(ei.value)
    _assert_names(ei.value, batches / "data_batch_1")
    assert not marker.exists()


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_shapes_and_determinism() -> None:
    a = make_synthetic(30, 10, seed=1)
    b = make_synthetic(30, 10, seed=1)
    c = make_synthetic(30, 10, seed=2)
    assert [t.shape for t in a] == [(30, 3, 32, 32), (30,), (10, 3, 32, 32), (10,)]
    assert a[0].dtype == torch.uint8 and a[1].dtype == torch.int64
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


def _linear_probe_accuracy(tensors: tuple[torch.Tensor, ...]) -> float:
    """One epoch of softmax regression on 8x8-pooled images."""
    torch.manual_seed(0)
    train_x, train_y, test_x, test_y = tensors

    def feats(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(x.float() / 255, 4).flatten(1)

    model = torch.nn.Linear(3 * 8 * 8, 10)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    fx = feats(train_x)
    for i in range(0, len(fx), 50):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(fx[i : i + 50]), train_y[i : i + 50]).backward()
        opt.step()
    with torch.no_grad():
        return (model(feats(test_x)).argmax(1) == test_y).float().mean().item()


def test_synthetic_learnable_only_when_asked() -> None:
    assert _linear_probe_accuracy(make_synthetic(2000, 500, seed=0)) > 0.6
    assert _linear_probe_accuracy(make_synthetic(2000, 500, seed=0, learnable=False)) < 0.3


# ----------------------------------------------------------------------------- download


def _make_archive(tmp_path: Path, small: tuple[torch.Tensor, ...]) -> tuple[Path, str]:
    src = save_cifar10_format(tmp_path / "src", *small)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


def test_download_from_file_url(tmp_path: Path, small: tuple[torch.Tensor, ...]) -> None:
    archive, md5 = _make_archive(tmp_path, small)
    seen: list[tuple[int, int]] = []
    dest = tmp_path / "dest"
    out = download_cifar10(dest, url=archive.as_uri(), md5=md5, progress=lambda d, t: seen.append((d, t)))
    assert out == dest.resolve() / "cifar-10-batches-py"
    _assert_same(load_cifar10(out, cache=False), small)
    assert seen and seen[-1][0] == archive.stat().st_size
    assert sorted(p.name for p in dest.iterdir()) == ["cifar-10-batches-py"]  # temp file removed


def test_download_bad_checksum(tmp_path: Path, small: tuple[torch.Tensor, ...]) -> None:
    archive, _ = _make_archive(tmp_path, small)
    dest = tmp_path / "dest"
    with pytest.raises(DatasetError, match="checksum mismatch") as ei:
        download_cifar10(dest, url=archive.as_uri(), md5="0" * 32)
    assert "nothing was unpacked" in str(ei.value) and "--data" in str(ei.value)
    assert list(dest.iterdir()) == []


def test_download_missing_url(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="absent.tar.gz failed: .*No such file"):
        download_cifar10(tmp_path / "dest", url=(tmp_path / "absent.tar.gz").as_uri())


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_without_network_says_so_and_how_to_use_an_existing_folder(tmp_path: Path) -> None:
    """Issue 17 item 9: no network must not end in 'run the command that just failed'."""
    from click.testing import CliRunner

    from grader.cli import main

    url = f"http://127.0.0.1:{_closed_port()}/cifar-10-python.tar.gz"
    result = CliRunner().invoke(main, ["data", "download", str(tmp_path / "dest"), "--url", url])
    out = " ".join(result.output.split())  # click wraps long lines
    assert result.exit_code == 1, out
    assert "no network connection" in out and url in out
    assert "cifar-10-batches-py" in out and "--data PATH" in out and "AUTOGRADER_DATA_DIR" in out
    assert "Get the official data with `autograder data download DIR`" not in out  # the failed command


def _tar_with(tmp_path: Path, add) -> tuple[Path, str]:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        ok = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        ok.size = 3
        tar.addfile(ok, io.BytesIO(b"abc"))
        add(tar)
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


def _escaping(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("../escaped.txt")
    info.size = 4
    tar.addfile(info, io.BytesIO(b"evil"))


def _absolute(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("/tmp/autograder-test-absolute.txt")
    info.size = 4
    tar.addfile(info, io.BytesIO(b"evil"))


def _symlink(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("cifar-10-batches-py/link")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    tar.addfile(info)


def _device(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("cifar-10-batches-py/dev")
    info.type = tarfile.CHRTYPE
    tar.addfile(info)


@pytest.mark.parametrize("add", [_escaping, _absolute, _symlink, _device])
def test_download_rejects_unsafe_members(tmp_path: Path, add) -> None:
    archive, md5 = _tar_with(tmp_path, add)
    dest = tmp_path / "dest"
    with pytest.raises(DatasetError, match="refusing archive member"):
        download_cifar10(dest, url=archive.as_uri(), md5=md5)
    assert list(dest.iterdir()) == []  # nothing extracted, not even the safe member
    assert not (tmp_path / "escaped.txt").exists()
