"""A chat-completions server on 127.0.0.1 for the prompt-based operator's tests.

It stands in for a language-model provider (none can run here) and keeps to the provider's
published contract: every request body is validated against the `openai` package's request
type for chat completions (unknown keys refused too), and every answer it sends is built
through the package's `ChatCompletion` model; errors use the provider's error shape. A
violation is recorded and fails the test. What it answers comes from a script (or, when the
script is empty, from `reply`): answers, HTTP errors with headers, delays, or raw bytes.
"""

from __future__ import annotations

import json
import threading
import time
import typing
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from pydantic import TypeAdapter

REQUEST = TypeAdapter(CompletionCreateParamsNonStreaming)
REQUEST_KEYS = set(typing.get_type_hints(CompletionCreateParamsNonStreaming))


@dataclass
class Step:
    """One scripted answer: `text` as the assistant's message, or an HTTP `status` with
    `headers`, after `delay` seconds; `raw` bytes are sent as they are (malformed)."""

    text: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None


class FakeChat:
    def __init__(self, reply: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.script: deque[Step] = deque()
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeChat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                fake.handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ---- one request ------------------------------------------------------------------
    def handle(self, http: BaseHTTPRequestHandler) -> None:
        if http.path != "/v1/chat/completions":
            self.violations.append(f"POST {http.path}: not the chat completions path")
            return self._send(http, 404, _error("not found", "invalid_request_error"))
        length = int(http.headers.get("Content-Length", 0))
        try:
            body = json.loads(http.rfile.read(length))
            REQUEST.validate_python(body)
            unknown = set(body) - REQUEST_KEYS
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)}")
        except (ValueError, TypeError) as exc:
            self.violations.append(f"request: {exc}")
            return self._send(http, 400, _error(str(exc)[:200], "invalid_request_error"))
        self.requests.append(body)
        step = self.script.popleft() if self.script else Step(text=self._generate(body))
        if step.delay:
            time.sleep(step.delay)
        if step.raw is not None:
            return self._send_bytes(http, step.status, step.raw, step.headers)
        if step.status != 200:
            kind = "rate_limit_exceeded" if step.status == 429 else "server_error"
            return self._send(http, step.status, _error("scripted failure", kind), step.headers)
        answer = ChatCompletion.model_validate(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": step.text},
                    }
                ],
                "usage": {
                    "prompt_tokens": _tokens(body),
                    "completion_tokens": len((step.text or "").split()),
                    "total_tokens": _tokens(body) + len((step.text or "").split()),
                },
            }
        )
        self._send(http, 200, answer.model_dump(mode="json", exclude_none=True))

    def _generate(self, body: dict[str, Any]) -> str:
        if self.reply is None:
            self.violations.append("a request came after the script ran out")
            return "nothing"
        return self.reply(body)

    def _send(
        self,
        http: BaseHTTPRequestHandler,
        status: int,
        data: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send_bytes(http, status, json.dumps(data).encode(), headers or {})

    def _send_bytes(
        self, http: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str]
    ) -> None:
        try:
            http.send_response(status)
            http.send_header("Content-Type", "application/json")
            http.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                http.send_header(key, value)
            http.end_headers()
            http.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def _tokens(body: dict[str, Any]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in body["messages"])
