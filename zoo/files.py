"""Files written so that an interrupted write never leaves a half-written one; file hashes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)`` beside ``path``, then rename it into place.

    The temporary name keeps ``path``'s suffixes (Keras insists on ``.keras`` and
    ``.weights.h5``), so ``write`` may be ``model.save``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=".partial-", suffix="".join(path.suffixes)
    )
    os.close(handle)
    temporary = Path(name)
    try:
        temporary.unlink()  # some writers refuse to overwrite
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(text))


def write_png(path: Path, image) -> None:
    """Save an (H, W, C) array in [0, 1] as an 8-bit PNG, atomically."""
    import numpy as np
    from PIL import Image

    array = np.clip(np.asarray(image) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    write_atomically(path, lambda temporary: Image.fromarray(array).save(temporary, format="PNG"))


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
