"""CIFAR-10 (python format) reading, caching, synthesis and download.

Trusted side: runs in the grader parent process, never inside the sandbox.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import pickle
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np
import torch
from torch import Tensor

from grader.child.batches import CIFAR_MEAN, CIFAR_STD  # noqa: E402  (one definition, both sides)
from grader.whole_files import save_whole

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"

BATCHES_DIRNAME = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
_CACHE_VERSION = 2  # 2: keyed by content, stored under cache_dir only

LABEL_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
_ROW = 3 * 32 * 32


class DatasetError(Exception):
    """The CIFAR-10 folder is missing, incomplete or corrupt; says how to fix it."""

    def __init__(self, path: Path | str, problem: str) -> None:
        # args stay (path, problem) so the exception survives pickling.
        super().__init__(str(path), problem)
        self.path = str(path)
        self.problem = problem

    def __str__(self) -> str:
        return (
            f"CIFAR-10 data at {self.path}: {self.problem}. "
            "Get the official data with `autograder data download DIR` "
            "and point the grader at DIR."
        )


class DownloadError(DatasetError):
    """The download itself failed (no network, server error, checksum): says what and how to go on."""

    def __str__(self) -> str:
        return (
            f"Downloading CIFAR-10 from {self.path} failed: {self.problem}. "
            "If you already have CIFAR-10 (a `cifar-10-batches-py` folder), no download is needed: "
            "pass that folder, or the folder holding it, with `--data PATH` (or set AUTOGRADER_DATA_DIR=PATH). "
            "Otherwise fetch cifar-10-python.tar.gz where there is internet, unpack it with "
            "`tar xzf cifar-10-python.tar.gz`, and point --data at the result, or download from a "
            "mirror with `autograder data download DIR --url URL` (the checksum is still checked)."
        )


@dataclass(frozen=True)
class Cifar10:
    """The whole data set as uint8 NCHW images and int64 labels (CPU)."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor


# ----------------------------------------------------------------------------- locate


def _looks_like_batches_dir(path: Path) -> bool:
    return path.is_dir() and (
        path.name == BATCHES_DIRNAME or (path / TEST_FILE).is_file()
    )


def find_batches_dir(root: Path) -> Path:
    """Accept the `cifar-10-batches-py` folder itself or a folder containing it."""
    root = Path(root).expanduser()
    if _looks_like_batches_dir(root):
        return root
    if _looks_like_batches_dir(root / BATCHES_DIRNAME):
        return root / BATCHES_DIRNAME
    if not root.exists():
        raise DatasetError(root, "no such directory")
    raise DatasetError(root, f"neither it nor a `{BATCHES_DIRNAME}` folder inside it holds CIFAR-10")


# ----------------------------------------------------------------------------- unpickle


def _numpy_reconstruct() -> Callable[..., Any]:
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


def _allowed_globals() -> dict[tuple[str, str], Any]:
    reconstruct = _numpy_reconstruct()
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 protocol-2 pickles spell bytes as _codecs.encode(str, "latin1").
        ("_codecs", "encode"): codecs.encode,
    }


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler for CIFAR batch files that can only rebuild numpy arrays."""

    def __init__(self, file: IO[bytes], path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        # A pickle can call any importable callable; only array rebuilding is needed here.
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DatasetError(
                self._path, f"refusing to unpickle disallowed global {module}.{name}"
            ) from None


def _unpickle(path: Path) -> Any:
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    try:
        with path.open("rb") as f:
            return _BatchUnpickler(f, path).load()
    except DatasetError:
        raise
    except Exception as exc:  # corrupt pickles raise all sorts of errors
        raise DatasetError(path, f"cannot be read ({type(exc).__name__}: {exc})") from exc


def _field(batch: dict[Any, Any], key: str, path: Path) -> Any:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DatasetError(path, f"batch has no `{key}` entry")


def _parse_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file into (uint8 N×3072 data, int64 N labels), validated."""
    batch = _unpickle(path)
    if not isinstance(batch, dict):
        raise DatasetError(path, f"expected a dict, found {type(batch).__name__}")
    data = _field(batch, "data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _ROW:
        desc = f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        raise DatasetError(path, f"`data` must be uint8 N×{_ROW}, found {desc}")
    try:
        labels = np.asarray(_field(batch, "labels", path), dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(path, f"`labels` are not integers ({exc})") from exc
    if labels.shape != (data.shape[0],):
        raise DatasetError(path, f"{labels.shape} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DatasetError(path, f"labels outside 0..{NUM_CLASSES - 1} (min {labels.min()}, max {labels.max()})")
    return data, labels


def _to_tensors(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[Tensor, Tensor]:
    data = np.concatenate([d for d, _ in parts])  # a fresh, writable copy
    labels = np.concatenate([lab for _, lab in parts])
    images = torch.from_numpy(data).reshape(-1, *IMAGE_SHAPE)
    return images, torch.from_numpy(labels)


def _parse_all(batches_dir: Path) -> Cifar10:
    train_x, train_y = _to_tensors([_parse_batch(batches_dir / n) for n in TRAIN_FILES])
    test_x, test_y = _to_tensors([_parse_batch(batches_dir / TEST_FILE)])
    return Cifar10(train_x, train_y, test_x, test_y)


# ----------------------------------------------------------------------------- cache


def data_sha256(batches_dir: Path) -> str:
    """One digest of the six batch files' names and bytes: the data set's identity.

    Keys the tensor cache (two copies of one data set share a cache entry; a changed file
    gets a new one) and is what `autograder doctor` prints. ~0.2 s for the full 178 MB.
    """
    digest = hashlib.sha256()
    for name in (*TRAIN_FILES, TEST_FILE):
        path = batches_dir / name
        digest.update(name.encode() + b"\0")
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except OSError:
            raise DatasetError(path, "file is missing or unreadable") from None
    return digest.hexdigest()


def cache_path(batches_dir: Path, cache_dir: Path) -> Path:
    """Where the tensors of this data set are cached: under cache_dir, never beside the data."""
    return Path(cache_dir) / f"cifar10-{data_sha256(batches_dir)[:32]}.pt"


def _read_cache(path: Path) -> Cifar10 | None:
    """Return the cached data set if it is intact; None otherwise."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("version") != _CACHE_VERSION:
            return None
        ds = Cifar10(*(blob[k] for k in ("train_images", "train_labels", "test_images", "test_labels")))
    except Exception:  # an unreadable cache is just rebuilt
        return None
    return ds if _tensors_ok(ds) else None


def _tensors_ok(ds: Cifar10) -> bool:
    pairs = ((ds.train_images, ds.train_labels), (ds.test_images, ds.test_labels))
    for x, y in pairs:
        if not (isinstance(x, Tensor) and isinstance(y, Tensor)):
            return False
        if x.dtype != torch.uint8 or x.shape[1:] != IMAGE_SHAPE or y.dtype != torch.int64:
            return False
        if y.shape != (x.shape[0],) or (y.numel() and (y.min() < 0 or y.max() >= NUM_CLASSES)):
            return False
    return True


def _write_cache(path: Path, ds: Cifar10) -> bool:
    """Atomically write the cache file; False when the location is not writable."""
    blob = {
        "version": _CACHE_VERSION,
        "train_images": ds.train_images,
        "train_labels": ds.train_labels,
        "test_images": ds.test_images,
        "test_labels": ds.test_labels,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_whole(blob, path)
        return True
    except OSError:
        return False


def load_cifar10(root: Path, *, cache: bool = True, cache_dir: Path | None = None) -> Cifar10:
    """Load CIFAR-10 from `root`, reusing a tensor cache so later loads take a fraction of a second.

    The cache lives in `cache_dir` (none without one), keyed by the files' content: the
    data folder is only ever read, so a shared or read-only data set stays as it was.
    """
    batches_dir = find_batches_dir(Path(root))
    path = cache_path(batches_dir, cache_dir) if cache and cache_dir is not None else None
    if path is not None and (cached := _read_cache(path)) is not None:
        return cached
    ds = _parse_all(batches_dir)
    if path is not None:
        _write_cache(path, ds)
    return ds


# ----------------------------------------------------------------------------- writing


def _batch_dict(images: np.ndarray, labels: np.ndarray, label: str, start: int) -> dict[bytes, Any]:
    return {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": np.ascontiguousarray(images.reshape(len(images), _ROW)),
        b"filenames": [f"synthetic_{start + i:05d}.png".encode() for i in range(len(images))],
    }


def _dump(obj: Any, path: Path) -> None:
    with path.open("wb") as f:
        # Protocol 4 stores bytes raw (protocol 2 from Python 3 re-encodes them, 10x slower).
        pickle.dump(obj, f, protocol=4)


def _as_numpy(images: Tensor, labels: Tensor, what: str) -> tuple[np.ndarray, np.ndarray]:
    if images.dtype != torch.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"{what} images must be uint8 N×3×32×32, got {images.dtype} {tuple(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{what} labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    return images.detach().cpu().numpy(), labels.detach().cpu().numpy()


def save_cifar10_format(
    dest: Path,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    *,
    num_batches: int = 5,
) -> Path:
    """Write `dest/cifar-10-batches-py` with the official files, keys and layout.

    Lets tests and benchmarks make data sets that go through the real reading path.
    Only five training batches are read back, so `num_batches` other than 5 is for
    testing error handling.
    """
    if num_batches < 1:
        raise ValueError("num_batches must be at least 1")
    tr_x, tr_y = _as_numpy(train_images, train_labels, "train")
    te_x, te_y = _as_numpy(test_images, test_labels, "test")
    out = Path(dest) / BATCHES_DIRNAME
    out.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(tr_x), num_batches + 1).astype(int)
    for i in range(num_batches):
        lo, hi = bounds[i], bounds[i + 1]
        label = f"training batch {i + 1} of {num_batches}"
        _dump(_batch_dict(tr_x[lo:hi], tr_y[lo:hi], label, int(lo)), out / f"data_batch_{i + 1}")
    _dump(_batch_dict(te_x, te_y, "testing batch 1 of 1", 0), out / TEST_FILE)
    meta = {
        b"num_cases_per_batch": int(bounds[1] - bounds[0]) if num_batches else 0,
        b"label_names": [n.encode() for n in LABEL_NAMES],
        b"num_vis": _ROW,
    }
    _dump(meta, out / META_FILE)
    return out


def _class_templates(gen: torch.Generator) -> Tensor:
    """One float 3×32×32 pattern per class: a distinct colour times a distinct stripe."""
    colours = torch.rand(NUM_CLASSES, 3, 1, 1, generator=gen) * 0.8 + 0.1
    coords = torch.arange(32, dtype=torch.float32)
    rows = []
    for c in range(NUM_CLASSES):
        freq = 0.3 + 0.25 * (c % 5)
        axis = coords.view(32, 1) if c < 5 else coords.view(1, 32)
        stripe = 0.5 + 0.5 * torch.sin(freq * axis).expand(32, 32)
        rows.append(colours[c] * (0.5 + 0.5 * stripe))
    return torch.stack(rows)


def _synth_split(n: int, gen: torch.Generator, templates: Tensor | None) -> tuple[Tensor, Tensor]:
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=gen)
    if templates is None:
        return torch.randint(0, 256, (n, *IMAGE_SHAPE), generator=gen, dtype=torch.uint8), labels
    noise = torch.rand(n, *IMAGE_SHAPE, generator=gen)
    images = (0.7 * templates[labels] + 0.3 * noise) * 255
    return images.round().clamp_(0, 255).to(torch.uint8), labels


def make_synthetic(
    n_train: int, n_test: int, *, seed: int = 0, learnable: bool = True
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Make (train_x, train_y, test_x, test_y) shaped like CIFAR-10.

    With `learnable` each class has its own colour and stripe pattern under noise, so a
    small CNN learns it in one epoch (checks that training works end to end); otherwise
    the images are pure noise (for timing only).
    """
    gen = torch.Generator().manual_seed(seed)
    templates = _class_templates(gen) if learnable else None
    train_x, train_y = _synth_split(n_train, gen, templates)
    test_x, test_y = _synth_split(n_test, gen, templates)
    return train_x, train_y, test_x, test_y


# ----------------------------------------------------------------------------- download


def _fetch(url: str, into: Path, progress: Callable[[int, int], None] | None) -> str:
    """Stream `url` into the file `into`; return the md5 hex digest of what was read."""
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, into.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or -1)
            done = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise DownloadError(url, f"the server answered HTTP {exc.code} ({exc.reason})") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(url, _network_problem(exc.reason)) from exc
    except (OSError, ValueError) as exc:
        raise DownloadError(url, _network_problem(exc)) from exc
    return digest.hexdigest()


def _network_problem(reason: object) -> str:
    """Say in words whether the network is missing or the server did not answer."""
    if isinstance(reason, socket.gaierror):
        return f"no network: the server's name could not be looked up ({reason})"
    if isinstance(reason, (ConnectionRefusedError, ConnectionResetError, socket.timeout, TimeoutError)):
        return f"no network connection to the server ({reason})"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"no network: the server is unreachable ({reason})"
    return str(reason)


def _check_member(member: tarfile.TarInfo, dest: Path, archive: str) -> None:
    if not (member.isfile() or member.isdir()):
        raise DatasetError(archive, f"refusing archive member {member.name!r}: not a plain file or folder")
    target = (dest / member.name).resolve()
    if os.path.isabs(member.name) or not target.is_relative_to(dest):
        raise DatasetError(archive, f"refusing archive member {member.name!r}: it escapes {dest}")


def _extract(archive: Path, dest: Path, url: str) -> None:
    """Extract only after every member is checked, so a bad archive writes nothing."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for m in members:
                _check_member(m, dest, url)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(url, f"archive cannot be extracted ({exc})") from exc


def download_cifar10(
    dest: Path,
    *,
    url: str = OFFICIAL_URL,
    md5: str = OFFICIAL_MD5,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Download and unpack the official archive into `dest`; return the batches folder.

    The md5 is checked before anything is unpacked; `progress(done, total)` gets byte
    counts (total is -1 when the server does not say).
    """
    dest = Path(dest).expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".cifar10-", suffix=".tar.gz", dir=dest)
    os.close(fd)
    tmp = Path(name)
    try:
        got = _fetch(url, tmp, progress)
        if got != md5.lower():
            raise DownloadError(url, f"checksum mismatch: the file received has md5 {got}, the official "
                                     f"archive has {md5} (cut short or altered on the way); nothing was unpacked")
        _extract(tmp, dest, url)
    finally:
        tmp.unlink(missing_ok=True)
    return find_batches_dir(dest)


__all__ = [
    "CIFAR_MEAN",
    "CIFAR_STD",
    "OFFICIAL_MD5",
    "OFFICIAL_URL",
    "Cifar10",
    "cache_path",
    "data_sha256",
    "DatasetError",
    "DownloadError",
    "download_cifar10",
    "find_batches_dir",
    "load_cifar10",
    "make_synthetic",
    "save_cifar10_format",
]
