"""The only module that reads and writes lineage files.

JSON is written atomically (temporary file in the same folder, fsync, replace, fsync the
folder). JSONL is appended one whole line per write under a lock. A torn last line is moved
aside and reported; a corrupt line in the middle is reported with its number and skipped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from bot.errors import LineageFileError, decoded

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def dump_json(model: BaseModel) -> bytes:
    return (json.dumps(model.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()


def load_json(data: bytes, model: type[M], *, source: str) -> M:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise LineageFileError(
            f"{source}: `{field}`: {first['msg']} ({exc.error_count()} problem(s)); "
            "restore the file from git history or delete it to rebuild"
        ) from None


@contextmanager
def locked(path: Path, *, wait: bool = True) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LineageFileError(
                f"{path}: another Augnes process holds this lock; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)


def jsonl_line(record: BaseModel) -> str:
    return json.dumps(record.model_dump(mode="json"), sort_keys=True) + "\n"


def append_jsonl(path: Path, records: Sequence[BaseModel]) -> None:
    """Append records, one write of one whole line each, under the file's lock."""
    if not records:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_name(path.name + ".lock")):
        recover_torn_tail(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for record in records:
                os.write(fd, jsonl_line(record).encode())
            os.fsync(fd)
        finally:
            os.close(fd)


class Extended(NamedTuple):
    text: str  # the file with the records appended
    torn: str  # a torn last line taken out of it ("" when there was none)
    warning: str | None  # what was done about it, naming the file and line


def extend_jsonl(text: str, records: Sequence[BaseModel], *, source: str) -> Extended:
    """A JSONL file's `text` with `records` appended, each on a line of its own. A last line
    without its newline is kept when it is a whole JSON object (only the newline was lost),
    else it is taken out, for the caller to set aside, and the warning says where it was."""
    torn, warning = "", None
    if text and not text.endswith("\n"):
        cut = text.rfind("\n") + 1
        line = text.count("\n") + 1
        try:
            whole = isinstance(json.loads(text[cut:]), dict)
        except ValueError:
            whole = False
        if whole:
            text += "\n"
            warning = f"{source}:{line}: the last line had lost its newline; it was kept"
        else:
            text, torn = text[:cut], text[cut:]
            warning = f"{source}:{line}: a torn last line ({len(torn)} characters) was set aside"
    return Extended(text + "".join(map(jsonl_line, records)), torn, warning)


def recover_torn_tail(path: Path) -> str | None:
    """If the file ends without a newline, give a whole last record its newline back, or
    move a partial one aside. Returns where it was moved."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return None
        data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        try:
            whole = isinstance(json.loads(data[cut:]), dict)
        except ValueError:
            whole = False
        if whole:  # only the newline was lost
            handle.seek(0, os.SEEK_END)
            handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            log.warning("%s: the last line had lost its newline; it was kept", path)
            return None
        aside = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        aside.write_bytes(data[cut:])
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
    log.warning("%s: a torn last line was moved aside to %s", path, aside)
    return str(aside)


def parse_jsonl(text: str, model: type[M], *, source: str) -> tuple[list[M], list[str]]:
    """Every valid record, and a report line per corrupt one (with its line number)."""
    records: list[M] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(model.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            problems.append(f"{source}:{number}: {where + ': ' if where else ''}{first['msg']}")
    for problem in problems:
        log.warning("skipped corrupt line %s", problem)
    return records, problems


def read_jsonl(
    path: Path, model: type[M], *, start: int = 0, known: Sequence[M] = ()
) -> tuple[list[M], list[str]]:
    """Records of a JSONL file. With `start` (a byte offset at a line boundary), only the lines
    after it are parsed and appended to `known`."""
    if not path.exists():
        return list(known), []
    problems = []
    with locked(path.with_name(path.name + ".lock")):
        aside = recover_torn_tail(path)
    if aside:
        problems.append(f"{path}: a torn last line was moved aside to {aside}")
    with path.open("rb") as handle:
        handle.seek(start)
        text = decoded(handle.read(), source=f"{path} (after byte {start})", error=LineageFileError)
    records, corrupt = parse_jsonl(text, model, source=str(path))
    return [*known, *records], problems + corrupt
