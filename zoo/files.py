"""Files written so that an interrupted write never leaves a half-written one; file hashes;
folders held by one process at a time."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL = ".partial-"  # the prefix of a file being written


def remove_partial_files(folder: Path) -> list[Path]:
    """Delete the half-written files an interrupted writer (``kill -9``) left under ``folder``;
    only call it while holding the folder (:func:`folder_lock`). Returns what it removed."""
    stale = sorted(Path(folder).rglob(f"{PARTIAL}*")) if Path(folder).is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


# Write failures the user fixes on the machine, not in the command: a full disk, a quota, a
# read-only or forbidden folder. TensorFlow's file system raises its own errors with the
# operating system's text.
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
_DISK_TEXTS = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def disk_error(error: BaseException) -> str | None:
    """One line for a write that the machine refused (disk full, read-only, no permission),
    or None for any other error."""
    if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
        where = f": {error.filename}" if error.filename else ""
        return f"cannot write{where}: {error.strerror or os.strerror(error.errno)}"
    text = str(error)
    found = next((t for t in _DISK_TEXTS if t in text), None)
    if found and type(error).__module__.startswith(("tensorflow", "h5py", "keras")):
        return f"cannot write: {found}"
    return None


def free_bytes(folder: Path) -> int:
    """Free space for writing in ``folder`` (its nearest existing parent), in bytes."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)`` beside ``path``, then rename it into place.

    The temporary name keeps ``path``'s suffixes (Keras insists on ``.keras`` and
    ``.weights.h5``), so ``write`` may be ``model.save``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=PARTIAL, suffix="".join(path.suffixes))
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


@contextmanager
def folder_lock(folder: Path, *, what: str = "process") -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively while the block runs; a ZooError if another holds it.

    An advisory ``flock``: the operating system drops it when the holder exits, even by
    ``kill -9``, so a dead run never blocks the next one. A folder the block created and
    left empty is removed, with the parents it created for it (``runs/MODEL``).
    """
    from zoo.errors import ZooError

    folder = Path(folder)
    # The folder and each parent this call creates, deepest first.
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ZooError(f"{folder} is in use by another {what} (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
        for made in created:  # a run that failed before writing anything leaves no folder
            if not made.is_dir() or any(made.iterdir()):
                break
            made.rmdir()
