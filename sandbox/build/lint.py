"""Build-time checks of a blueprint's source: misspelled hooks, and which
hooks it defines.

A hook the driver calls is found by its exact name (``realm_on_command`` in
C, ``on_command`` in a Python ``realm.Blueprint``); a function named
``realm_on_comand`` or a method named ``hearbeat`` compiles without a word
and simply never runs. So every function or method whose name is close to a
hook's (by edit distance), or carries the hook prefix (``realm_on_`` in C,
``on_`` in Python) without naming a hook, is a build warning with its file
and line.

The hooks a source does define are recorded in the component it builds, as
a custom section (:data:`SECTION`, JSON), so that the driver can say what a
version really answers (the wizard's ``stat``) without running it: every
component exports all nine hooks (the world requires them), and only the
SDK knows which of them reach the author's code.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from sandbox.protocol import HOOKS
from sandbox import leb128

#: The custom section a build adds to a component: ``{"hooks": [...]}``.
SECTION = "jitrealm-hooks"

#: Hooks besides the WIT's that an SDK calls by name (a blueprint's
#: self-description, run before on-load and on-reload).
EXTRA_HOOKS = ("describe",)

_HOOK_WORDS = tuple(h.value.replace("-", "_") for h in HOOKS) + EXTRA_HOOKS
C_HOOKS: dict[str, str] = {f"realm_{w}": w.replace("_", "-") for w in _HOOK_WORDS}
PY_HOOKS: dict[str, str] = {w: w.replace("_", "-") for w in _HOOK_WORDS}
C_PREFIX = "realm_on_"
PY_PREFIX = "on_"

_COMPONENT_PREAMBLE = b"\x00asm\x0d\x00\x01\x00"


@dataclass(frozen=True, slots=True)
class Finding:
    """One warning about a source, ``file:line: warning: message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: warning: {self.message}"


@dataclass(frozen=True, slots=True)
class Report:
    hooks: tuple[str, ...]  # the hooks the source defines, WIT spelling, sorted
    findings: tuple[Finding, ...]


def distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _near(name: str, hooks: dict[str, str]) -> str | None:
    """The hook ``name`` is probably a misspelling of, if any."""
    best: tuple[int, str] | None = None
    for hook in hooks:
        # Short names tolerate one slip, longer ones two (`realm_on_comand`,
        # `hearbeat`, `realm_on_lod`; never `say` for `reset`).
        allowed = 1 if len(hook) <= 6 else 2
        d = distance(name.lower(), hook)
        if d <= allowed and (best is None or d < best[0]):
            best = (d, hook)
    return best[1] if best else None


def _check(name: str, line: int, file: str, hooks: dict[str, str], prefix: str) -> Finding | None:
    if name in hooks:
        return None
    near = _near(name, hooks)
    if near is not None:
        return Finding(
            file, line, f"{name}() looks like the hook {near}() misspelled: it will never be called"
        )
    if name.startswith(prefix):
        known = ", ".join(h for h in hooks if h.startswith(prefix))
        return Finding(
            file,
            line,
            f"{name}() has the hook prefix {prefix!r} but is no hook ({known}): it will never be called",
        )
    return None


# -- C -------------------------------------------------------------------------------------

_C_NOISE = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.DOTALL)
_C_DEFINITION = re.compile(r"\b([A-Za-z_]\w*)\s*\(([^;{}]*)\)\s*\{")
_C_KEYWORDS = frozenset({"if", "while", "for", "switch", "return", "sizeof", "do", "else"})


def _blank(match: re.Match[str]) -> str:
    """Comments and literals out, newlines kept (lines stay where they were)."""
    return re.sub(r"[^\n]", " ", match.group(0))


def c_functions(text: str) -> list[tuple[str, int]]:
    """The functions defined at file scope in C ``text``: (name, line)."""
    code = _C_NOISE.sub(_blank, text)
    code = re.sub(r"^[ \t]*#[^\n]*", _blank, code, flags=re.MULTILINE)  # preprocessor lines
    found: list[tuple[str, int]] = []
    depth = 0
    pos = 0
    for match in _C_DEFINITION.finditer(code):
        depth += code.count("{", pos, match.start()) - code.count("}", pos, match.start())
        pos = match.start()
        name = match.group(1)
        if depth == 0 and name not in _C_KEYWORDS:
            found.append((name, code.count("\n", 0, match.start()) + 1))
    return found


def lint_c(text: str, file: str) -> Report:
    hooks: set[str] = set()
    findings: list[Finding] = []
    for name, line in c_functions(text):
        if name in C_HOOKS:
            hooks.add(C_HOOKS[name])
        finding = _check(name, line, file, C_HOOKS, C_PREFIX)
        if finding is not None:
            findings.append(finding)
    return Report(tuple(sorted(hooks)), tuple(findings))


# -- Python ----------------------------------------------------------------------------------


def lint_python(text: str, file: str) -> Report:
    """Functions at module level and methods of every class. A source that
    does not parse is left to the compiler, which says where."""
    try:
        tree = ast.parse(text, filename=file)
    except (SyntaxError, ValueError):
        return Report((), ())
    hooks: set[str] = set()
    findings: list[Finding] = []
    defs: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defs.append(node)
        elif isinstance(node, ast.ClassDef):
            methods = [
                n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            defs.extend(methods)
            hooks.update(PY_HOOKS[m.name] for m in methods if m.name in PY_HOOKS)
    for fn in defs:
        if fn.name.startswith("_"):
            continue
        finding = _check(fn.name, fn.lineno, file, PY_HOOKS, PY_PREFIX)
        if finding is not None:
            findings.append(finding)
    return Report(tuple(sorted(hooks)), tuple(findings))


def lint(text: str, file: str, language: str) -> Report | None:
    if language == "c":
        return lint_c(text, file)
    if language == "python":
        return lint_python(text, file)
    return None


# -- the hooks section ----------------------------------------------------------------------


def with_hooks(component: bytes, hooks: tuple[str, ...]) -> bytes:
    """``component`` with a :data:`SECTION` custom section recording
    ``hooks`` (unchanged if it is not a component)."""
    if not component.startswith(_COMPONENT_PREAMBLE):
        return component
    name = SECTION.encode()
    body = (
        leb128.encode(len(name))
        + name
        + json.dumps({"hooks": list(hooks)}, separators=(",", ":")).encode()
    )
    return component + b"\x00" + leb128.encode(len(body)) + body


def read_hooks(component: bytes) -> list[str] | None:
    """The hooks recorded by :func:`with_hooks`, or None (not recorded: a
    component built elsewhere, or not a component)."""
    if not component.startswith(_COMPONENT_PREAMBLE):
        return None
    pos = len(_COMPONENT_PREAMBLE)
    try:
        while pos < len(component):
            section = component[pos]
            size, start = leb128.decode(component, pos + 1)
            end = start + size
            if section == 0:
                length, at = leb128.decode(component, start)
                if component[at : at + length] == SECTION.encode():
                    data = json.loads(component[at + length : end])
                    hooks = data.get("hooks") if isinstance(data, dict) else None
                    if isinstance(hooks, list):
                        return [str(h) for h in hooks]
            pos = end
    except (ValueError, IndexError):
        return None
    return None
