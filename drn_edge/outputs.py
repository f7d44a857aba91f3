"""Where every command writes: one output planner, and atomic writes (a reader, or a crash, never sees a
half-written artifact)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drn_edge.errors import OutputError


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str = ".partial") -> Iterator[Path]:
    """Yield a temp path in the destination folder; rename it onto `final` only on success.

    The temp file lives beside the target so the rename is atomic (same filesystem); its name is random and
    created exclusively (never a planted link). `suffix` ends the temp name (a video writer picks its container
    from it). The file gets the usual mode (umask), not mkstemp's 0600.
    """
    final = Path(final)
    folder = final.parent if str(final.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=folder)
        os.close(fd)
    except OSError as exc:
        raise OutputError(
            f"cannot write to output folder '{folder}': {exc.strerror or exc}. "
            "Choose a writable folder with enough free space."
        ) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts get the usual mode
        os.replace(tmp_path, final)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise OutputError(
            f"could not write '{final}': {exc.strerror or exc}. "
            "Check that the folder is writable and the disk is not full."
        ) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def output_lock(target: str | os.PathLike, command: str) -> Iterator[Path]:
    """One run at a time per output (what rsync and ffmpeg users get from a lock or a refusal): two drn-derain,
    drn-train or drn-export runs into the same output overwrote each other in silence. The lock is an flock on
    '.NAME.drn-lock' beside the output, so it ends with its process even when that process is killed."""
    import fcntl

    target = Path(target)
    lock = target.parent / f".{target.name}.drn-lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise OutputError(f"cannot lock output '{target}': {exc.strerror or exc}; choose a writable location") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise OutputError(f"another run (pid {holder}) is writing '{target}' right now; wait for it to finish, or "
                          f"give this {command} run another output") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {command}".encode())
        yield target
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(final: str | os.PathLike, data: bytes) -> None:
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_json(final: str | os.PathLike, obj: Any) -> None:
    write_bytes(final, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_writable(final: str | os.PathLike) -> Path:
    """Prove an output file can be written, before minutes of work: its folder exists and is writable, or the nearest
    existing folder above it is (the write creates the rest). Creates nothing: a refused run leaves no folder."""
    final = Path(final)
    if final.is_dir():
        raise OutputError(f"output '{final}' is a folder; give a file name")
    folder = final.parent if str(final.parent) else Path(".")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write '{final}': '{folder}' is a file, not a folder; choose another location")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write '{final}': {exc.strerror or exc}; choose a writable location") from None
    return final


def refuse_overwriting_inputs(outputs: dict, files=(), folders=()) -> None:
    """Every report path of a command, checked against what it reads: an output may not be an input file or its
    sidecar (FILE.json), lie inside an input folder, or be another output. OutputError names the flag."""
    def key(p) -> Path:
        return Path(p).resolve()

    taken: dict[Path, str] = {}
    inputs = {key(f): str(f) for f in files if f}
    inputs |= {key(f"{f}.json"): f"{f}.json (the sidecar of {f})" for f in files if f}
    dirs = [(key(d), str(d)) for d in folders if d]
    for flag, out in outputs.items():
        if not out:
            continue
        k = key(out)
        if k in inputs:
            raise OutputError(f"{flag} '{out}' is an input of this run ({inputs[k]}); it would be overwritten: "
                              "choose another file name")
        for d, shown in dirs:
            if d in k.parents:
                raise OutputError(f"{flag} '{out}' is inside the input folder '{shown}'; write reports elsewhere")
        if k in taken:
            raise OutputError(f"{flag} and {taken[k]} both write '{out}'; give them different names")
        taken[k] = flag


def plan_outputs(outputs: dict, files=(), folders=(), replace_existing: bool = True,
                 suffixes: dict | None = None) -> dict[str, Path]:
    """The one output planner of every command, run before any work: each output (flag -> path) may not be an
    input file or its sidecar, lie in an input folder, be another output, or be a symbolic link (drn-edge never
    writes through a link it did not make); it must be writable; it must end in one of suffixes[flag] when given
    (what that writer produces: a PNG plot is not written under .jpg); and it may exist only when
    replace_existing (the command's --overwrite; reports are replaced by design). Returns flag -> Path."""
    refuse_overwriting_inputs(outputs, files, folders)
    for flag, allowed in (suffixes or {}).items():
        out = outputs.get(flag)
        if out and Path(out).suffix.lower() not in allowed:
            raise OutputError(f"{flag} '{out}' must end in {' or '.join(allowed)} (what it writes); "
                              f"got '{Path(out).suffix or 'no suffix'}'")
    planned: dict[str, Path] = {}
    checked: set[Path] = set()
    for flag, out in outputs.items():
        if not out:
            continue
        path = Path(out)
        if path.is_symlink():
            raise OutputError(f"{flag} '{out}' is a symbolic link; drn-edge never writes through a link it did not "
                              "make: remove the link or choose another name")
        if path.exists() and not replace_existing:
            raise OutputError(f"{flag} '{out}' already exists; pass --overwrite to replace it, or choose another name")
        if path.is_dir():
            raise OutputError(f"{flag} '{out}' is a folder; give a file name")
        if path.parent not in checked:  # one write test per folder
            check_writable(path)
            checked.add(path.parent)
        planned[flag] = path
    return planned


MAX_JSON_BYTES = 4 << 20
MAX_JSON_DEPTH = 32


def json_depth(text: str) -> int:
    """Deepest nesting of [ and { outside strings, found without recursion (a deep file cannot crash it)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_bounded(text: str | bytes, what: str, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH,
                  finite: bool = True) -> Any:
    """json.loads for files drn-edge did not necessarily write: size and nesting bounded, errors as ValueError;
    with `finite`, Infinity/NaN/1e400 are refused (a config or sidecar never holds them)."""
    if len(text) > max_bytes:
        raise ValueError(f"{what} is {len(text):,} bytes; more than the {max_bytes:,} a drn-edge JSON can be")
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if json_depth(text) > max_depth:
        raise ValueError(f"{what} nests deeper than {max_depth} levels; it was not written by drn-edge")

    if not finite:
        return json.loads(text)

    def checked(token: str) -> float:  # Infinity, NaN and 1e400 are never a drn-edge value: refuse, do not overflow later
        value = float(token)
        if not math.isfinite(value):
            raise ValueError(f"{what} holds the non-finite number {token}; it was edited or damaged")
        return value

    return json.loads(text, parse_float=checked, parse_constant=checked,
                      parse_int=lambda t: int(t) if len(t) < 20 else checked(t))
