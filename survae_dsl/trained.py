"""`load_trained`: a trained model back from its bundle (docs/bundles.md).

A bundle is the output folder of `survae-train` (or a single `.zip` packed from one by
`survae_dsl.train.bundle.pack`). It holds three files, written by
`survae_dsl.train.bundle.write_bundle`:

- ``model.survae``: the text that was compiled and trained (not a path to a file that may change);
- ``weights.safetensors``: the model's ``state_dict`` (parameters and persistent buffers);
- ``info.json``: the bundle's format version, the model's name, the versions that wrote it, the
  model's ``survae-compile --info`` document (under ``"info"``) and the training's own record
  (under ``"training"``).

Loading recompiles the text with the compiler at hand, so a bundle outlives the file it came
from; every way it can fail is a `BundleError` with one line saying which file and what.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import torch

if TYPE_CHECKING:
    from survae_dsl.nn import Model

# The names of the bundle's files, inside the run folder or the packed archive.
SOURCE_FILE: Final = "model.survae"
WEIGHTS_FILE: Final = "weights.safetensors"
INFO_FILE: Final = "info.json"
BUNDLE_FILES: Final = (SOURCE_FILE, WEIGHTS_FILE, INFO_FILE)
# info.json's "format" and "version": a reader refuses a version newer than its own (fields are
# only ever added within a version, so an older bundle stays readable).
BUNDLE_FORMAT: Final = "survae-bundle"
BUNDLE_VERSION: Final = 1
# The safetensors metadata key holding the SHA-256 of the source the weights were trained from.
SOURCE_DIGEST_KEY: Final = "survae_source_sha256"


class BundleError(ValueError):
    """A bundle that cannot be loaded: missing file, source that no longer compiles, weights
    that do not fit the model, or a format newer than this survae-dsl. The message is one line."""


@dataclass(frozen=True)
class BundleContents:
    """The three files of a bundle, read but not yet interpreted.

    ``source_path`` is where ``model.survae`` lies (inside an archive: ``ARCHIVE/model.survae``,
    which names no file); ``folder`` is where user transform modules are looked for.
    """

    source_text: str
    source_path: str
    folder: Path
    info: dict[str, Any]
    weights: bytes
    # A packed bundle's copied user modules (``NAME.py`` → its bytes); a folder's are found in place.
    modules: tuple[tuple[str, bytes], ...] = ()


def source_digest(text: str) -> str:
    """The SHA-256 (hex) of a source text, as the weights' metadata records it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_trained(path: str | Path, *, device: str | torch.device = "cpu", model: str | None = None) -> Model:
    """The trained model of the bundle at ``path`` (a run folder or a packed ``.zip``), in eval mode.

    ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` (CUDA when available) or a
    `torch.device`. ``model``: the model the caller expects; a bundle of another model is a
    `BundleError` (by default, whichever model the bundle holds). The weights keep the dtype
    they were saved in (a float64 run loads as float64). User transform modules are looked
    for next to ``model.survae`` (and next to the archive), then on the import path.

    Raises `BundleError` (one line) for a path that is not a bundle, a bundle from a newer
    survae-dsl, a source that no longer compiles, a missing model, or weights that do not fit.
    """
    target = resolve_device(device)  # first: a bad device is refused before any work
    contents = read_bundle(Path(path))
    model_name = _model_name(contents, Path(path))
    if model is not None and model != model_name:
        raise BundleError(f"{path} holds a trained `{model_name}`, not `{model}`")
    cls = _compile(contents, model_name)
    weights = _weights(contents, Path(path))
    instance: Model = cls()
    dtype = _recorded_dtype(contents.info) or _float_dtype(weights)
    if dtype is not None:
        instance = instance.to(dtype)
    _check_fit(instance, weights, contents, model_name)
    instance.load_state_dict(weights, strict=True)
    return instance.to(target).eval()


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` → CUDA when available, else the CPU; a CUDA device without CUDA is a `BundleError`."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise BundleError(f"unknown device {device!r}: use cpu, cuda, cuda:N or auto") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise BundleError(f"device {device!r} asked for, but this PyTorch sees no CUDA device")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise BundleError(f"device {device!r} asked for, but there are {torch.cuda.device_count()} CUDA devices")
    return chosen


def read_bundle(path: Path) -> BundleContents:
    """The files of the bundle at ``path`` (folder or ``.zip``), with info.json parsed and its
    format and version checked; `BundleError` naming what is missing or unreadable."""
    if path.is_dir():
        missing = [name for name in BUNDLE_FILES if not (path / name).is_file()]
        if missing:
            raise BundleError(f"{path} is not a trained-model bundle: it has no {' and no '.join(missing)}")
        try:
            text = (path / SOURCE_FILE).read_text(encoding="utf-8")
            info_text = (path / INFO_FILE).read_text(encoding="utf-8")
            weights = (path / WEIGHTS_FILE).read_bytes()
        except (OSError, UnicodeDecodeError) as exc:
            raise BundleError(f"cannot read the bundle {path}: {_reason(exc)}") from None
        return BundleContents(text, str(path / SOURCE_FILE), path, _parse_info(info_text, path), weights)
    if path.is_file():
        return _read_archive(path)
    raise BundleError(f"{path} does not exist (a bundle is a survae-train output folder or a packed .zip)")


def _read_archive(path: Path) -> BundleContents:
    """The files of a packed bundle, read into memory (nothing is extracted here)."""
    if not zipfile.is_zipfile(path):
        raise BundleError(f"{path} is not a trained-model bundle: neither a folder nor a .zip archive")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [name for name in BUNDLE_FILES if name not in names]
            if missing:
                raise BundleError(f"{path} is not a trained-model bundle: it has no {' and no '.join(missing)}")
            text = archive.read(SOURCE_FILE).decode("utf-8")
            info_text = archive.read(INFO_FILE).decode("utf-8")
            weights = archive.read(WEIGHTS_FILE)
            info = _parse_info(info_text, path)
            listed = [m for m in info.get("modules", []) if isinstance(m, str) and m in names]
            modules = tuple((name, archive.read(name)) for name in listed)
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise BundleError(f"cannot read the bundle {path}: {_reason(exc)}") from None
    return BundleContents(text, f"{path}/{SOURCE_FILE}", path.resolve().parent, info, weights, modules)


def _parse_info(text: str, path: Path) -> dict[str, Any]:
    """info.json as a dict, its format and version checked."""
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: {INFO_FILE} is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(info, dict) or info.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f'{path}: {INFO_FILE} does not describe a trained-model bundle (no "format": {BUNDLE_FORMAT!r})'
        )
    version = info.get("version")
    if not isinstance(version, int) or version < 1:
        raise BundleError(f'{path}: {INFO_FILE} has no valid bundle "version" (found {version!r})')
    if version > BUNDLE_VERSION:
        writer = info.get("survae_dsl", "a newer survae-dsl")
        raise BundleError(
            f"{path} is a version {version} bundle (written by survae-dsl {writer}); this survae-dsl reads "
            f"versions up to {BUNDLE_VERSION}: upgrade survae-dsl"
        )
    return info


def _model_name(contents: BundleContents, path: Path) -> str:
    name = contents.info.get("model")
    if not isinstance(name, str) or not name:
        raise BundleError(f'{path}: {INFO_FILE} names no model (no "model" string)')
    return name


def _compile(contents: BundleContents, model_name: str) -> type[Any]:
    """The class of ``model_name`` compiled from the bundle's text; `BundleError` when it no longer compiles."""
    from survae_dsl.compiler.core import codes
    from survae_dsl.compiler.core.diagnostics import CompileError
    from survae_dsl.compiler.drivers.api import compile_source

    try:
        with tempfile.TemporaryDirectory(prefix="survae-bundle-") as scratch:
            # A packed bundle's modules are imported from a scratch folder while the model compiles.
            for name, data in contents.modules:
                (Path(scratch) / Path(name).name).write_bytes(data)
            folders = [Path(scratch), contents.folder] if contents.modules else [contents.folder]
            classes = compile_source(
                contents.source_text, filename=contents.source_path, model=model_name, search_path=folders
            )
    except CompileError as exc:
        if any(d.code == codes.E212 for d in exc.diagnostics):
            raise BundleError(
                f"{contents.source_path} has no model `{model_name}`, which {INFO_FILE} names as the trained one"
            ) from None
        errors = sum(d.is_error for d in exc.diagnostics)
        more = f" (and {errors - 1} more error{'s' * (errors != 2)})" if errors > 1 else ""
        raise BundleError(f"the bundle's model no longer compiles: {exc}{more}") from None
    return classes[model_name]


def _weights(contents: BundleContents, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of weights.safetensors, on the CPU."""
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load
    except ImportError:
        raise BundleError("loading a trained model needs safetensors: pip install 'survae-dsl[train]'") from None
    try:
        return load(contents.weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise BundleError(f"{path}: {WEIGHTS_FILE} is not a readable safetensors file ({exc})") from None


def _recorded_dtype(info: dict[str, Any]) -> torch.dtype | None:
    """The model's float dtype as info.json records it (``"float64"``), if it names one."""
    dtype = getattr(torch, str(info.get("dtype")), None)
    return dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else None


def _float_dtype(weights: dict[str, torch.Tensor]) -> torch.dtype | None:
    """The floating dtype of the saved tensors when they agree on one (the run's dtype), else None."""
    dtypes = {t.dtype for t in weights.values() if t.is_floating_point()}
    return dtypes.pop() if len(dtypes) == 1 else None


def _check_fit(model: torch.nn.Module, weights: dict[str, torch.Tensor], contents: BundleContents, name: str) -> None:
    """`BundleError` naming the first tensor that is missing, unexpected, or of another shape."""
    expected = model.state_dict()
    problems: list[str] = []
    for key, tensor in expected.items():
        if key not in weights:
            problems.append(f"`{name}` needs `{key}` {list(tensor.shape)}, which {WEIGHTS_FILE} lacks")
        elif weights[key].shape != tensor.shape:
            found = list(weights[key].shape)
            problems.append(f"`{key}` is {found} in {WEIGHTS_FILE} but `{name}` has {list(tensor.shape)}")
    problems += [
        f"{WEIGHTS_FILE} holds `{key}`, which `{name}` has no place for" for key in weights if key not in expected
    ]
    if not problems:
        return
    more = f" (and {len(problems) - 1} more mismatch{'es' * (len(problems) != 2)})" if len(problems) > 1 else ""
    digest = _saved_digest(contents.weights)
    changed = (
        f"; {SOURCE_FILE} was changed after these weights were written"
        if digest is not None and digest != source_digest(contents.source_text)
        else ""
    )
    raise BundleError(f"the weights do not fit the model: {problems[0]}{more}{changed}")


def _saved_digest(weights: bytes) -> str | None:
    """The source digest recorded in the safetensors header's metadata, if any."""
    try:
        size = int.from_bytes(weights[:8], "little")
        header = json.loads(weights[8 : 8 + size])
        value = header.get("__metadata__", {}).get(SOURCE_DIGEST_KEY)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
