"""Code operators: small edits to a strategy's Python source, found through its syntax tree.

Each edit replaces the source text of one node (or inserts or removes one statement's lines),
so the rest of the file — comments, formatting — stays as it was and a reviewer's diff shows
only the change. Edits happen inside function bodies only. Every result passes `check_source`
(it parses and compiles, imports only allowed modules, stays under the size limit) before it
can become a child; a result that fails is discarded and counted against its operator.
"""

from __future__ import annotations

import ast
import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

DEFAULT_IMPORTS = (
    "__future__",
    "collections",
    "dataclasses",
    "functools",
    "itertools",
    "math",
    "numpy",
    "random",
    "statistics",
    "torch",
    "typing",
    "zlib",
)
FORBIDDEN_NAMES = frozenset({"eval", "exec", "compile", "__import__", "open", "breakpoint"})


class InvalidSource(ValueError):
    """A code child that may not be evaluated; the message says why, `kind` in a word or
    two (one of REFUSALS), for the tallies of refused answers."""

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


# why a child (a language model's answer, a code edit) was refused, as tallied
REFUSALS = (
    "no diff",  # no fenced block, or a diff that names no file
    "context mismatch",  # the diff's context or removed lines are not in the file
    "forbidden import",  # or a forbidden call or attribute
    "manifest touched",
    "too large",
    "does not compile",
    "outside the folder",  # a path outside the strategy's folder, or a file of another kind
    "bad parameters",
    "changes nothing",
    "not a completion",  # the endpoint's answer is not a chat completion
    "entry point missing",  # the manifest's entry file no longer defines its entry
    "other",
)


def check_source(text: str, *, allowed_imports: Sequence[str], max_bytes: int) -> ast.Module:
    """The parsed module, or InvalidSource: it must parse and compile, import only
    `allowed_imports` (top-level names), call none of FORBIDDEN_NAMES, and fit `max_bytes`."""
    size = len(text.encode())
    if size > max_bytes:
        raise InvalidSource(f"{size} bytes, more than the {max_bytes} allowed", "too large")
    try:
        tree = ast.parse(text)
        compile(tree, "<child>", "exec")
    except (SyntaxError, ValueError) as exc:
        raise InvalidSource(f"does not compile: {exc}", "does not compile") from None
    allowed = set(allowed_imports)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise InvalidSource("a relative import", "forbidden import")
            names = [node.module or ""]
        for name in names:
            if name.split(".")[0] not in allowed:
                raise InvalidSource(
                    f"imports {name}, which is not in the allow-list", "forbidden import"
                )
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            raise InvalidSource(f"uses {node.id}()", "forbidden import")
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("__")
            and node.attr != "__init__"
        ):
            raise InvalidSource(f"reaches for {node.attr}", "forbidden import")
    return tree


def defines(tree: ast.Module, name: str) -> bool:
    """Whether the module binds `name` at its top level (a def, a class, an assignment or
    an import, also under an `if` or `try`), so that the harness's getattr on the loaded
    module finds it. Names bound inside functions and classes do not count."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                return True
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if not isinstance(node, ast.Lambda):
            pending.extend(ast.iter_child_nodes(node))
    return False


@functools.lru_cache(maxsize=4096)
def normalised(text: str) -> str:
    """The source with formatting, comments and docstrings gone (for novelty checks); most
    children share their parent's source, so each text is parsed once."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body.pop(0)
            if not body:
                body.append(ast.Pass())
    return ast.dump(tree, annotate_fields=False)


# ---- editing by source spans ---------------------------------------------------------------
class _Source:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, col: int) -> int:
        """`col` is a UTF-8 byte offset, as the ast module gives it."""
        raw = self.lines[line - 1].encode()[:col].decode(errors="ignore")
        return self.starts[line - 1] + len(raw)

    def span(self, node: ast.AST) -> tuple[int, int]:
        end_line, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        assert end_line is not None and end_col is not None
        return (
            self.offset(getattr(node, "lineno"), getattr(node, "col_offset")),  # noqa: B009
            self.offset(end_line, end_col),
        )

    def replace(self, node: ast.AST, text: str) -> str:
        start, end = self.span(node)
        return self.text[:start] + text + self.text[end:]

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    def statement_lines(self, stmt: ast.stmt) -> tuple[int, int]:
        """Whole lines [first, last) of a statement that starts its line."""
        assert stmt.end_lineno is not None
        return stmt.lineno - 1, stmt.end_lineno


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _inside_functions(tree: ast.Module) -> list[ast.AST]:
    seen: list[ast.AST] = []
    for fn in _functions(tree):
        for stmt in fn.body:
            seen.extend(ast.walk(stmt))
    return seen


def _bodies(tree: ast.Module) -> list[list[ast.stmt]]:
    """Statement lists inside functions (function bodies and the blocks within them)."""
    out: list[list[ast.stmt]] = []
    for node in _inside_functions(tree) + list(_functions(tree)):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if (
                isinstance(block, list)
                and block
                and isinstance(block[0], ast.stmt)
                and block not in out
            ):
                out.append(block)
    return out


def _starts_line(src: _Source, stmt: ast.stmt) -> bool:
    line = src.lines[stmt.lineno - 1]
    return (
        line[: len(line) - len(line.lstrip())] == line[: stmt.col_offset]
        and not line[: stmt.col_offset].strip()
    )


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


@dataclass(frozen=True)
class Edit:
    text: str
    summary: str


EditFn = Callable[[str, ast.Module, random.Random, float], Edit | None]


def perturb_constant(text: str, tree: ast.Module, rng: random.Random, sigma: float) -> Edit | None:
    src = _Source(text)
    numbers = [
        n
        for n in _inside_functions(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, int | float)
        and not isinstance(n.value, bool)
    ]
    if not numbers:
        return None
    node = rng.choice(numbers)
    value = node.value
    assert isinstance(value, int | float)
    if isinstance(value, int):
        new: int | float = value + rng.choice((-1, 1)) * max(1, round(abs(value) * sigma))
    else:
        new = value * (1 + rng.gauss(0, sigma * 4)) if value else rng.gauss(0, sigma)
        new = float(f"{new:.4g}")
        if new == value:
            return None
    return Edit(src.replace(node, repr(new)), f"constant {value!r} → {new!r} (line {node.lineno})")


SYMBOLS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.LtE: "<=",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.Gt: ">",
    ast.And: "and",
    ast.Or: "or",
}
SWAPS: dict[type, tuple[type, ...]] = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Div,),
    ast.Div: (ast.Mult,),
    ast.Lt: (ast.Gt, ast.LtE),
    ast.Gt: (ast.Lt, ast.GtE),
    ast.LtE: (ast.GtE, ast.Lt),
    ast.GtE: (ast.LtE, ast.Gt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.And: (ast.Or,),
    ast.Or: (ast.And,),
}


def _operator_gap(node: ast.AST) -> tuple[ast.AST, ast.AST, type] | None:
    """The two operands around the operator this edit changes, and its type."""
    if isinstance(node, ast.BinOp) and type(node.op) in SWAPS:
        return node.left, node.right, type(node.op)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in SWAPS:
        return node.left, node.comparators[0], type(node.ops[0])
    if isinstance(node, ast.BoolOp) and len(node.values) == 2 and type(node.op) in SWAPS:
        return node.values[0], node.values[1], type(node.op)
    return None


def swap_operator(text: str, tree: ast.Module, rng: random.Random, sigma: float) -> Edit | None:
    """Swap one binary, comparison or boolean operator for a related one, touching only the
    operator's own characters."""
    src = _Source(text)
    found = [(n, g) for n in _inside_functions(tree) if (g := _operator_gap(n)) is not None]
    if not found:
        return None
    node, (left, right, old) = rng.choice(found)
    start, end = src.span(left)[1], src.span(right)[0]
    gap = text[start:end]
    symbol = SYMBOLS[old]
    at = gap.find(symbol)
    if at < 0:
        return None
    new = rng.choice(SWAPS[old])
    changed = gap[:at] + SYMBOLS[new] + gap[at + len(symbol) :]
    return Edit(
        text[:start] + changed + text[end:],
        f"{symbol} → {SYMBOLS[new]} (line {getattr(node, 'lineno', 0)})",
    )


def flip_condition(text: str, tree: ast.Module, rng: random.Random, sigma: float) -> Edit | None:
    src = _Source(text)
    tests = [
        n.test for n in _inside_functions(tree) if isinstance(n, ast.If | ast.While | ast.IfExp)
    ]
    if not tests:
        return None
    test = rng.choice(tests)
    return Edit(
        src.replace(test, f"not ({src.segment(test)})"),
        f"condition negated (line {test.lineno})",
    )


def _candidates(tree: ast.Module, src: _Source) -> list[tuple[list[ast.stmt], int]]:
    """Statements inside functions that start their own line (docstrings and `elif`
    branches excepted)."""
    return [
        (block, i)
        for block in _bodies(tree)
        for i, stmt in enumerate(block)
        if not _is_docstring(stmt)
        and _starts_line(src, stmt)
        and not src.lines[stmt.lineno - 1].lstrip().startswith("elif")
    ]


def delete_statement(text: str, tree: ast.Module, rng: random.Random, sigma: float) -> Edit | None:
    src = _Source(text)
    options = [
        (b, i)
        for b, i in _candidates(tree, src)
        if len(b) > 1 and not isinstance(b[i], ast.Return)  # no function loses its result
    ]
    if not options:
        return None
    block, i = rng.choice(options)
    stmt = block[i]
    first, last = src.statement_lines(stmt)
    if stmt.end_lineno is not None and any(
        s is not stmt and s.lineno == stmt.end_lineno for s in block
    ):
        return None  # shares a line with the next statement
    lines = src.lines[:first] + src.lines[last:]
    return Edit("".join(lines), f"deleted a statement (line {stmt.lineno})")


def duplicate_statement(
    text: str, tree: ast.Module, rng: random.Random, sigma: float
) -> Edit | None:
    src = _Source(text)
    options = _candidates(tree, src)
    if not options:
        return None
    block, i = rng.choice(options)
    stmt = block[i]
    first, last = src.statement_lines(stmt)
    copy = src.lines[first:last]
    if copy and not copy[-1].endswith("\n"):
        copy = [*copy[:-1], copy[-1] + "\n"]
    lines = src.lines[:last] + copy + src.lines[last:]
    return Edit("".join(lines), f"duplicated a statement (line {stmt.lineno})")


def swap_statements(text: str, tree: ast.Module, rng: random.Random, sigma: float) -> Edit | None:
    src = _Source(text)
    options = [
        (b, i)
        for b, i in _candidates(tree, src)
        if i + 1 < len(b)
        and _starts_line(src, b[i + 1])
        and not _is_docstring(b[i + 1])
        and not isinstance(b[i + 1], ast.Return)
        and (b[i].end_lineno or 0) < b[i + 1].lineno
    ]
    if not options:
        return None
    block, i = rng.choice(options)
    a, b = block[i], block[i + 1]
    a0, a1 = src.statement_lines(a)
    b0, b1 = src.statement_lines(b)
    if a1 != b0:
        return None  # a blank line or comment between them: leave it
    lines = src.lines[:a0] + src.lines[b0:b1] + src.lines[a0:a1] + src.lines[b1:]
    return Edit("".join(lines), f"swapped the statements of lines {a.lineno} and {b.lineno}")


CODE_OPERATORS: dict[str, EditFn] = {
    "code-constant": perturb_constant,
    "code-operator": swap_operator,
    "code-condition": flip_condition,
    "code-delete": delete_statement,
    "code-duplicate": duplicate_statement,
    "code-swap": swap_statements,
}


def mutate(
    name: str,
    text: str,
    *,
    rng: random.Random,
    sigma: float,
    allowed_imports: Sequence[str],
    max_bytes: int,
) -> Edit | None:
    """Apply code operator `name` to `text`. None: nothing to edit here. InvalidSource: an
    edit was made but the result may not be evaluated."""
    tree = ast.parse(text)
    edit = CODE_OPERATORS[name](text, tree, rng, sigma)
    if edit is None or edit.text == text:
        return None
    check_source(edit.text, allowed_imports=allowed_imports, max_bytes=max_bytes)
    return edit
