"""The prompt-based operator: a language model behind any OpenAI-compatible chat endpoint
(a hosted provider, or a local server such as llama.cpp or Ollama) rewrites a strategy.

The prompt is one of the templates (`bot/templates/prompts/*.md`, or the user's own in
`[tool.augnes.llm] prompts_dir`) filled with the strategy's files and scores. The model
answers with one fenced block — a unified diff, or a whole file — which must stay inside the
strategy's folder, parse, pass the code guard and the parameter declarations, and fit the
size limit; otherwise the model is told why and asked again, a bounded number of times.
HTTP: 429 and 5xx answers and timeouts are retried with backoff (Retry-After honoured);
tokens and cost are counted per child and against a budget per generation.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot.config import LLMConfig
from bot.errors import AugnesError
from bot.manifest import MANIFEST, PARAMS, Manifest, parse_params
from bot.operators.code import InvalidSource, check_source, defines

SYSTEM = """You improve strategies: Python code and parameters that act on benchmark goals.
A strategy lives in one folder; you see its files, its parameter declarations and its scores.
Answer with a one-line summary of your change, then exactly ONE fenced block, either
- ```diff: a unified diff of files in the folder (paths like a/policy.py, b/policy.py), or
- ```python (or ```json for params.json) holding one whole file, whose first line is a
  comment or key naming it: `# file: policy.py`.
Do not change strategy.toml. Imports allowed: {imports}. Keep every file under {max_bytes} bytes.
"""

FENCE = re.compile(r"```([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


class LLMError(AugnesError):
    exit_code = 12
    default_message = "the language model endpoint failed"


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0  # waiting for answers, HTTP retries included

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost += other.cost
        self.seconds += other.seconds


USABLE = "usable"  # a call's outcome when its answer became a child


@dataclass
class Call:
    """One model call, as it is told when it happens: what it cost and what came of it
    (USABLE, or the kind of refusal, one of code.REFUSALS, or "endpoint failed")."""

    template: str
    usage: Usage
    outcome: str
    reason: str = ""


@dataclass
class Answer:
    files: dict[str, str]  # changed files, relative to the strategy folder
    summary: str
    template: str
    usage: Usage = field(default_factory=Usage)


def endpoint(cfg: LLMConfig) -> tuple[str, str] | None:
    """(base URL, model) from the configuration or AUGNES_LLM_BASE_URL / AUGNES_LLM_MODEL;
    None when either is missing (the operator is then skipped)."""
    base = os.environ.get("AUGNES_LLM_BASE_URL") or cfg.base_url
    model = os.environ.get("AUGNES_LLM_MODEL") or cfg.model
    return (base.rstrip("/"), model) if base and model else None


def templates(cfg: LLMConfig, root: Path) -> dict[str, str]:
    """The shipped templates, overridden or extended by the user's own (<name>.md)."""
    found: dict[str, str] = {}
    shipped = resources.files("bot") / "templates" / "prompts"
    for item in shipped.iterdir():
        if item.name.endswith(".md"):
            found[item.name.removesuffix(".md")] = item.read_text(encoding="utf-8")
    own = root / cfg.prompts_dir
    if own.is_dir():
        for path in sorted(own.glob("*.md")):
            found[path.stem] = path.read_text(encoding="utf-8")
    chosen = {name: found[name] for name in cfg.templates if name in found}
    missing = [name for name in cfg.templates if name not in found]
    if missing:
        raise LLMError(
            f"[tool.augnes.llm] templates: no template named {', '.join(missing)} (shipped: "
            f"performance, stability, speed, memory, exploration; yours go in "
            f"{cfg.prompts_dir}/<name>.md)"
        )
    return chosen


class ChatClient:
    """POST {base}/chat/completions, the OpenAI wire format."""

    def __init__(
        self,
        cfg: LLMConfig,
        *,
        base_url: str,
        model: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cfg = cfg
        self.url = f"{base_url}/chat/completions"
        self.model = model
        self.sleep = sleep
        self.key = os.environ.get(cfg.api_key_env, "")

    def complete(
        self, messages: Sequence[Mapping[str, str]], *, timeout: float | None = None
    ) -> tuple[str, Usage]:
        """The answer's text and its usage (tokens from the server's `usage`, the seconds
        waited); `timeout` caps each request's wait below `timeout_s`."""
        began = time.monotonic()
        try:
            text, usage = self._complete(messages, timeout or self.cfg.timeout_s)
        except (InvalidSource, LLMError) as exc:
            exc.usage = Usage(1, seconds=time.monotonic() - began)  # type: ignore[union-attr]
            raise
        usage.seconds = time.monotonic() - began
        return text, usage

    def _complete(self, messages: Sequence[Mapping[str, str]], timeout: float) -> tuple[str, Usage]:
        import requests

        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        last = ""
        for attempt in range(self.cfg.max_http_retries + 1):
            try:
                reply = requests.post(self.url, json=body, headers=headers, timeout=timeout)
            except requests.Timeout:
                last = f"no answer within {timeout:.0f} s"
            except requests.ConnectionError as exc:
                last = f"cannot connect ({exc.__class__.__name__})"
            else:
                if reply.status_code == 200:
                    return self._parse(reply)
                last = f"HTTP {reply.status_code}: {reply.text[:200]}"
                if reply.status_code not in (408, 409, 429) and reply.status_code < 500:
                    raise LLMError(f"{self.url}: {last}")
                if attempt < self.cfg.max_http_retries:
                    wait = _retry_after(reply.headers.get("Retry-After"))
                    if wait is not None:
                        self.sleep(min(wait, self.cfg.max_wait_s))
                        continue
            if attempt < self.cfg.max_http_retries:
                self.sleep(min(2.0**attempt, self.cfg.max_wait_s))
        raise LLMError(f"{self.url}: {last} (after {self.cfg.max_http_retries + 1} tries)")

    def _parse(self, reply: Any) -> tuple[str, Usage]:
        try:
            data = reply.json()
            content = data["choices"][0]["message"]["content"]
            usage = data.get("usage") or {}
            prompt = int(usage.get("prompt_tokens", 0))
            completion = int(usage.get("completion_tokens", 0))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InvalidSource(
                f"the endpoint's answer is not a chat completion ({exc})", "not a completion"
            ) from None
        if not isinstance(content, str):
            raise InvalidSource("the answer has no text", "not a completion")
        cost = (
            prompt * self.cfg.price_input_per_mtok + completion * self.cfg.price_output_per_mtok
        ) / 1e6
        return content, Usage(1, prompt, completion, cost)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# ---- asking for a child ---------------------------------------------------------------------
def propose(
    client: ChatClient,
    cfg: LLMConfig,
    *,
    template_name: str,
    template: str,
    manifest: Manifest,
    files: Mapping[str, bytes],
    scores: str,
    allowed_imports: Sequence[str],
    max_bytes: int,
    allowance: Callable[[], float | None] | None = None,
    on_call: Callable[[Call], None] | None = None,
) -> Answer:
    """Ask for a changed strategy; re-ask with the reason when an answer is refused, at most
    `max_retries + 1` calls in all. Before each call `allowance()` gives the seconds the
    generation's budget has left (None: nothing left, and no call is made); each call is
    told to `on_call` as it ends. Raises InvalidSource when no valid answer came (usage is
    then on the exception as `.usage`, the last refusal's kind as `.kind`)."""
    shown = "\n\n".join(
        f"--- {name} ---\n{data.decode(errors='replace')}" for name, data in sorted(files.items())
    )
    params = files.get(PARAMS, b"{}").decode(errors="replace")
    prompt = template.format_map(
        _Defaults(
            strategy=manifest.name,
            family=manifest.family,
            description=manifest.description,
            files=shown,
            params=params,
            scores=scores,
        )
    )
    messages = [
        {
            "role": "system",
            "content": SYSTEM.format(imports=", ".join(allowed_imports), max_bytes=max_bytes),
        },
        {"role": "user", "content": prompt},
    ]
    usage = Usage()
    why, kind, tries = "", "other", 0
    tell = on_call or (lambda call: None)
    for _ in range(cfg.max_retries + 1):
        left = allowance() if allowance is not None else cfg.timeout_s
        if left is None or left <= 0:
            why, kind = why or "the generation's budget for model calls is spent", "budget"
            break
        tries += 1
        try:
            text, used = client.complete(messages, timeout=min(cfg.timeout_s, left))
        except InvalidSource as exc:
            used = getattr(exc, "usage", Usage(1))
            usage.add(used)
            why, kind = str(exc), exc.kind
            tell(Call(template_name, used, kind, why))
            continue
        except LLMError as exc:
            tell(Call(template_name, getattr(exc, "usage", Usage(1)), "endpoint failed", str(exc)))
            raise
        usage.add(used)
        try:
            changed, summary = parse_answer(
                text,
                manifest=manifest,
                files=files,
                allowed_imports=allowed_imports,
                max_bytes=max_bytes,
            )
        except InvalidSource as exc:
            why, kind = str(exc), exc.kind
            tell(Call(template_name, used, kind, why))
            messages += [
                {"role": "assistant", "content": text},
                {
                    "role": "user",
                    "content": f"That answer was refused: {why}. Answer again as instructed.",
                },
            ]
            continue
        tell(Call(template_name, used, USABLE, summary))
        return Answer(changed, summary, template_name, usage)
    refused = InvalidSource(f"no valid answer after {tries} call(s): {why}", kind)
    refused.usage = usage  # type: ignore[attr-defined]
    raise refused


class _Defaults(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def parse_answer(
    text: str,
    *,
    manifest: Manifest,
    files: Mapping[str, bytes],
    allowed_imports: Sequence[str],
    max_bytes: int,
) -> tuple[dict[str, str], str]:
    """The changed files and a summary, or InvalidSource saying what is wrong."""
    blocks = FENCE.findall(text)
    if len(blocks) != 1:
        raise InvalidSource(f"expected exactly one fenced block, found {len(blocks)}", "no diff")
    kind, body = blocks[0]
    outside = FENCE.sub("", text).strip().splitlines()
    summary = next((line.strip()[:120] for line in outside if line.strip()), "a rewrite")
    if kind == "diff" or body.lstrip().startswith(("--- ", "diff --git")):
        changed = apply_diff(body, {k: v.decode(errors="replace") for k, v in files.items()})
    else:
        changed = {_named(body, manifest, kind): _without_name_line(body)}
    for name, content in changed.items():
        _check_path(name)
        if name == MANIFEST:
            raise InvalidSource("strategy.toml may not be changed", "manifest touched")
        if len(content.encode()) > max_bytes:
            raise InvalidSource(
                f"{name} would be {len(content.encode())} bytes, over {max_bytes}", "too large"
            )
        if name.endswith(".py"):
            try:
                tree = check_source(content, allowed_imports=allowed_imports, max_bytes=max_bytes)
            except InvalidSource as exc:
                raise InvalidSource(f"{name}: {exc}", exc.kind) from None
            entry_file, entry = manifest.entry.split(":")
            if name == entry_file and not defines(tree, entry):
                raise InvalidSource(
                    f"{name} no longer defines {entry}, the manifest's entry point",
                    "entry point missing",
                )
        elif name == PARAMS:
            try:
                parse_params(content, manifest, source=PARAMS)
            except AugnesError as exc:
                raise InvalidSource(exc.message, "bad parameters") from None
        else:
            raise InvalidSource(
                f"{name}: only .py files and {PARAMS} may change", "outside the folder"
            )
    if all(files.get(k, b"").decode(errors="replace") == v for k, v in changed.items()):
        raise InvalidSource("the answer changes nothing", "changes nothing")
    return changed, summary


def _named(body: str, manifest: Manifest, kind: str) -> str:
    first = body.lstrip().splitlines()[0] if body.strip() else ""
    match = re.match(r"#\s*file:\s*(\S+)", first) or re.match(r'"?//\s*file:\s*(\S+)', first)
    if match:
        return match.group(1)
    if kind == "json":
        return PARAMS
    return manifest.entry.split(":")[0]


def _without_name_line(body: str) -> str:
    lines = body.splitlines(keepends=True)
    if lines and re.match(r"\s*#\s*file:", lines[0]):
        lines = lines[1:]
    return "".join(lines)


def _check_path(name: str) -> None:
    if (
        not name
        or name.startswith(("/", "\\"))
        or ".." in Path(name).parts
        or "/" in name
        or "\\" in name
        or not re.fullmatch(r"[A-Za-z0-9_.-]+", name)
    ):
        raise InvalidSource(
            f"{name!r} is not a file of the strategy's folder", "outside the folder"
        )


HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def apply_diff(diff: str, files: Mapping[str, str]) -> dict[str, str]:
    """Apply a unified diff to `files` (paths relative to the strategy folder, a/ and b/
    prefixes allowed). Context and removed lines must match exactly."""
    out: dict[str, str] = {}
    lines = diff.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("--- "):
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise InvalidSource("a '--- ' line without its '+++ ' line", "context mismatch")
        old_name = _strip(lines[i][4:])
        new_name = _strip(lines[i + 1][4:])
        name = new_name if new_name != "/dev/null" else old_name
        _check_path(name)
        source = out.get(name, files.get(name, "")) if old_name != "/dev/null" else ""
        if old_name != "/dev/null" and name not in files and name not in out:
            raise InvalidSource(
                f"the diff changes {name}, which does not exist", "context mismatch"
            )
        i += 2
        original = source.splitlines(keepends=True)
        result: list[str] = []
        position = 0
        while i < len(lines) and lines[i].startswith("@@"):
            match = HUNK.match(lines[i])
            if match is None:
                raise InvalidSource(f"not a hunk header: {lines[i][:60]}", "context mismatch")
            start = max(0, int(match.group(1)) - 1)
            if start < position:
                raise InvalidSource("hunks overlap or are out of order", "context mismatch")
            result += original[position:start]
            position = start
            i += 1
            while i < len(lines) and not lines[i].startswith(("@@", "--- ")):
                line = lines[i]
                tag, content = (line[:1], line[1:]) if line else (" ", "")
                if tag == "\\":  # "\ No newline at end of file"
                    i += 1
                    continue
                if tag in (" ", "-"):
                    have = original[position].rstrip("\n") if position < len(original) else None
                    if have != content:
                        raise InvalidSource(
                            f"{name}: the diff expects {content!r} at line {position + 1}, "
                            f"the file has {have!r}",
                            "context mismatch",
                        )
                    if tag == " ":
                        result.append(original[position])
                    position += 1
                elif tag == "+":
                    result.append(content + "\n")
                else:
                    raise InvalidSource(
                        f"{name}: a diff line starts with {tag!r}", "context mismatch"
                    )
                i += 1
        result += original[position:]
        out[name] = "".join(result)
    if not out:
        raise InvalidSource("the diff names no file ('--- a/…' and '+++ b/…' lines)", "no diff")
    return out


def _strip(path: str) -> str:
    path = path.split("\t")[0].strip()
    return path[2:] if path.startswith(("a/", "b/")) else path


def choose_template(names: Sequence[str], rng: random.Random) -> str:
    return rng.choice(sorted(names))


def scores_text(lines: Mapping[str, float]) -> str:
    return json.dumps({k: round(v, 4) for k, v in lines.items()}, indent=2)
