"""The one error family. Every message says what went wrong, where, and what to do next."""

from __future__ import annotations

from pathlib import Path

import click

# Every exit code the command line uses, and what it means (README "Exit codes", `--help`).
EXIT_CODES = {
    0: "done",
    1: "the work failed as reported (e.g. `stats --recompute` found differences)",
    2: "invalid configuration, manifest, goal file or command line",
    3: "unexpected error: a bug; the traceback is in ~/.cache/augnes/last-error.log",
    4: "a git operation failed (not a repository, a missing branch, a ref moved)",
    5: "the forge refused an operation (pull request, merge, push)",
    6: "a strategy broke the sandbox rules",
    7: "an evaluation could not run",
    8: "a lineage or state file is unreadable",
    9: "no sandbox backend can run on this machine (`augnes doctor` says why)",
    10: "an evaluation artifact was refused",
    11: "a candidate was refused before evaluation (it changes files outside its folder)",
    12: "the language model endpoint failed",
}


class AugnesError(click.ClickException):
    """Base of every error the bot reports to a user."""

    exit_code = 1
    default_message = "Augnes failed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class ConfigError(AugnesError):
    exit_code = 2
    default_message = "the Augnes configuration is invalid"


class ManifestError(ConfigError):
    default_message = "a strategy manifest is invalid"


class GoalError(ConfigError):
    default_message = "a goal file is invalid"


class RepoError(AugnesError):
    exit_code = 4
    default_message = "a git operation failed"


class ForgeError(AugnesError):
    exit_code = 5
    default_message = "the forge rejected an operation"


class SandboxViolation(AugnesError):
    exit_code = 6
    default_message = "a strategy broke the sandbox rules"


class EvaluationError(AugnesError):
    exit_code = 7
    default_message = "an evaluation could not run"


class LineageFileError(AugnesError):
    exit_code = 8
    default_message = "a lineage file is unreadable"


class SandboxUnavailable(AugnesError):
    exit_code = 9
    default_message = "no sandbox backend can run on this machine"


class CandidateRefused(AugnesError):
    exit_code = 11
    default_message = "the candidate was refused before evaluation"


def decoded(data: bytes, *, source: str, error: type[AugnesError]) -> str:
    """`data` as UTF-8 text, or `error` naming `source`, the line and the column of the first
    byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise error(
            f"{source}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column "
            f"{column}); save the file as UTF-8"
        ) from None


def read_text(path: Path, *, error: type[AugnesError]) -> str:
    """A file as UTF-8 text; bytes that are not UTF-8 are `error` naming the file and line."""
    return decoded(path.read_bytes(), source=str(path), error=error)
