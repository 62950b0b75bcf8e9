"""The narrow wire between the trusted evaluator and a strategy worker.

A frame is an 8-byte header (JSON length, payload length, little-endian u32), a JSON object and
a binary payload (a C-ordered array whose dtype and shape the JSON gives). Observations of
several episodes travel in one frame, so the pipe is crossed once per step of a whole batch.
This module imports nothing from the bot: the worker loads it by path inside the sandbox.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

HEADER = struct.Struct("<II")
MAX_JSON = 1 << 20
MAX_PAYLOAD = 64 << 20


class WireError(Exception):
    """The peer sent something that is not a frame, or went away."""


def encode(header: dict[str, Any], payload: bytes = b"") -> bytes:
    data = json.dumps(header, separators=(",", ":")).encode()
    return HEADER.pack(len(data), len(payload)) + data + payload


def write_frame(fd: int, header: dict[str, Any], payload: bytes = b"") -> None:
    view = memoryview(encode(header, payload))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def decode_header(raw: bytes) -> tuple[int, int]:
    json_len, payload_len = HEADER.unpack(raw)
    if json_len > MAX_JSON or payload_len > MAX_PAYLOAD:
        raise WireError(f"frame too large ({json_len} + {payload_len} bytes)")
    return json_len, payload_len


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"frame header is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise WireError("frame header is not a JSON object")
    return value


class FrameReader:
    """Reads frames from a pipe through a buffer: usually one system call per frame."""

    def __init__(self, fd: int) -> None:
        self._stream = os.fdopen(fd, "rb", buffering=1 << 16, closefd=False)

    def _exact(self, size: int) -> bytes:
        data = self._stream.read(size) if size else b""
        if len(data) != size:
            raise WireError("the peer closed the pipe")
        return data

    def read(self) -> tuple[dict[str, Any], bytes]:
        json_len, payload_len = decode_header(self._exact(HEADER.size))
        return parse_json(self._exact(json_len)), self._exact(payload_len)
