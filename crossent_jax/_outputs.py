"""Where the kit's commands write: output directories, one JSON writer, run metadata.

Rules every ``crossent`` command follows (and library callers may use):

* **Paths are checked before the work.** :func:`prepare_dir` and :func:`prepare_file` create
  the directory and prove it writable first, so a bad ``--out`` fails in a second with one
  line naming the flag, not after an hour of training.
* **A reused output directory never mixes runs.** A command owns a fixed set of file names;
  :func:`prepare_dir` deletes the owned files that are already there before the work starts,
  so afterwards the directory holds exactly this run's outputs (plus files the command does
  not own, which are never touched).
* **One JSON convention.** :func:`write_json` writes strict JSON (no ``NaN``/``Infinity``
  tokens): a non-finite float is written as ``null``. Every document carries a ``"meta"``
  record (:func:`run_metadata`: kit, jax, jaxlib and optax versions, backend, devices), written
  atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from crossent_jax._errors import InputValueError


def _usable_dir(path: str, flag: str, shown: str | None = None) -> str:
    shown = path if shown is None else shown
    for parent in _parents(path):
        if os.path.exists(parent) and not os.path.isdir(parent):
            if parent == shown:
                raise InputValueError(f"{flag} {shown!r} exists and is not a directory")
            raise InputValueError(
                f"{flag} {shown!r} is unusable: {parent!r} exists and is not a directory"
            )
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".crossent-write-test-", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        reason = e.strerror or str(e)
        raise InputValueError(f"{flag} {shown!r} is not writable: {reason}") from None
    return path


def _parents(path: str) -> list[str]:
    """``path`` and its ancestors, nearest first."""
    out, p = [], os.path.abspath(path)
    while True:
        out.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            return [path] + out[1:]
        p = parent


def prepare_dir(path: str, *, flag: str = "--out", owned: Iterable[str] = ()) -> str:
    """Create ``path`` (a directory), check it is writable, and delete the ``owned`` file
    names already in it, so old and new outputs never mix.

    Args:
      path: the output directory.
      flag: how the caller names it in messages (``"--out"``, ``"out"``).
      owned: file names (relative to ``path``) that the command writes.

    Returns:
      ``path``.

    Raises:
      InputValueError: ``path`` is a file, cannot be created or is not writable.

    Example:
      >>> import os, tempfile
      >>> d = tempfile.mkdtemp()
      >>> open(os.path.join(d, "curves.png"), "w").close()
      >>> _ = prepare_dir(d, owned=["history.json", "curves.png"])
      >>> os.listdir(d)
      []
    """
    _usable_dir(path, flag)
    for name in owned:
        target = os.path.join(path, name)
        if os.path.isfile(target) or os.path.islink(target):
            os.remove(target)
    return path


def prepare_file(path: str, *, flag: str = "--json") -> str:
    """Check before the work that ``path`` can be written as a file: its directory is (made)
    writable and ``path`` is not a directory. Returns ``path``.

    Raises:
      InputValueError: naming ``flag`` and the reason.
    """
    if os.path.isdir(path):
        raise InputValueError(f"{flag} {path!r} is a directory, expected a file path")
    _usable_dir(os.path.dirname(path) or ".", flag, shown=path)
    return path


def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy / JAX scalars and arrays turned into Python values and every
    non-finite float into ``None`` (so the result is strict JSON).

    >>> jsonable({"a": float("nan"), "b": [1.0, float("inf")], "c": (2, "x")})
    {'a': None, 'b': [1.0, None], 'c': [2, 'x']}
    """
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, int):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # NumPy / JAX arrays and scalars
        return jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return jsonable(obj.item())
    raise TypeError(f"cannot write a {type(obj).__name__} as JSON: {obj!r}")


def run_metadata() -> dict[str, Any]:
    """Versions, backend and devices: what a reader needs to compare two outputs."""
    from crossent_jax import __version__

    meta: dict[str, Any] = {
        "crossent_jax": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    try:
        import jax
        import jaxlib
        import optax

        devices = jax.devices()
        meta.update(
            jax=jax.__version__,
            jaxlib=jaxlib.__version__,
            optax=optax.__version__,
            backend=jax.default_backend(),
            device_kind=devices[0].device_kind if devices else None,
            device_count=len(devices),
        )
    except Exception as e:  # noqa: BLE001 - metadata must never lose the results it annotates
        meta["backend_error"] = f"{type(e).__name__}: {e}"
    return meta


def write_json(path: str, payload: Mapping[str, Any], *, meta: bool = True) -> str:
    """Write ``payload`` as strict, indented JSON (non-finite floats as ``null``), with a
    ``"meta"`` record first unless ``meta=False``; atomic (temporary file + rename).

    Returns:
      ``path``.
    """
    doc = {"meta": run_metadata()} if meta else {}
    doc.update(jsonable(dict(payload)))
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, ensure_ascii=False, allow_nan=False)
            f.write("\n")
        _chmod_default(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _chmod_default(path: str) -> None:
    """Give a temporary file (created 0600) the permissions a plain ``open`` would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def save_figure(fig, path: str, *, dpi: int = 110) -> str:
    """Save a Matplotlib figure as a palette PNG (≤ 256 colours: plots stay a few tens of
    KB, so committed results stay small), atomically. Closes the figure. Returns ``path``."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    buf.seek(0)
    img = Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=directory)
    os.close(fd)
    try:
        img.save(tmp, format="PNG", optimize=True)
        _chmod_default(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
