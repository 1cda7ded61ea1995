"""The student's code as the TA's submission page shows it: highlighted, each deduction at its line.

The grader's deductions name places in the model (`Deduction.place`: unit 1 of the block's
`layer`, layer1's conv's stride, `layer3`), not lines: the model was described from the
running program, and the sandbox does not say which line built what. Reports stored before
deductions had a place are read from their `where` text (`layer[1]`, `layer1.conv.stride`,
`layer3.count`: `place_of`). This module reads the student's file with
`ast` (never executing it) and finds the line a TA would point at. Students vary the
skeleton (keywords or positions, `nn.Conv2d` or `Conv2d`, a Sequential built from a list,
multi-line calls), so every lookup falls back to the nearest container it can find, and a
file that does not parse simply gets no lines.

The source is hostile: everything shown goes through Pygments (which escapes the code) or
`html.escape`, and the view is capped at the size the grader accepts.

Pure: imports only `grader.report`'s models, no web, database or grading engine.
"""
from __future__ import annotations

import ast
import html
import re
from typing import Iterator, TypeVar

from pydantic import BaseModel, Field
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from grader.report import Place, Report

MAX_BYTES = 256 << 10  # what grader.engine accepts: a larger file was never graded
MAX_LINES = 5000
MAX_DEPTH = 8  # nested Sequentials / helper calls followed before giving up
CSS_SCOPE = ".codeview"
_T = TypeVar("_T")

BLOCK_CLASS = "ResidualBlock"
MODEL_CLASS = "ResNet50_layer4"

# Positional parameters of the modules the blanks name, as torch defines them.
_SIGNATURES: dict[str, list[str]] = {
    "Conv2d": ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
               "groups", "bias"],
    "MaxPool2d": ["kernel_size", "stride", "padding"],
    "AvgPool2d": ["kernel_size", "stride", "padding"],
    "Linear": ["in_features", "out_features", "bias"],
    "BatchNorm2d": ["num_features"],
}
_BLOCK_PARAMS = ["in_channels", "middle_channels", "out_channels", "downsample"]
_LAYER1_KINDS = {"conv": "Conv2d", "maxpool": "MaxPool2d"}
_EXPECTED_KIND = {"fc": "Linear", "avgpool": "AvgPool2d"}
_BLOCK_WHERE = re.compile(r"layer\[(\d+)\]")
_LAYER_NAME = re.compile(r"layer\d+")
# Shown as U+FFFD: control characters, and bidi overrides that can make code read
# differently from what runs ("Trojan Source").
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Located(BaseModel):
    """One deduction and the line it belongs to (None: it is about no line, e.g. accuracy)."""

    item_id: str
    where: str
    points: float
    message: str
    line: int | None = None


class CodeLine(BaseModel):
    """One line of the listing; its anchor on the page is `L<number>`."""

    number: int
    html: str  # highlighted and escaped by Pygments: safe to insert as markup
    deductions: list[Located] = Field(default_factory=list)


class CodeView(BaseModel):
    """What the submission page needs: the lines with their deductions, and the rest apart."""

    lines: list[CodeLine] = Field(default_factory=list)
    unplaced: list[Located] = Field(default_factory=list)  # no line, or past the shown part
    parsed: bool = False  # False: the file does not parse, so no deduction could be placed
    truncated: bool = False  # only the first MAX_LINES lines / MAX_BYTES are shown
    total_lines: int = 0
    replaced_chars: int = 0  # control or bidi characters shown as U+FFFD

    def to_html(self) -> str:
        """The whole listing: one row per line with an `id="L<n>"` anchor, notes under flagged lines."""
        rows = [f'<div class="{CSS_SCOPE[1:]}">']
        for line in self.lines:
            flagged = " cv-flagged" if line.deductions else ""
            rows.append(f'<div class="cv-line{flagged}" id="L{line.number}">'
                        f'<a class="cv-n" href="#L{line.number}">{line.number}</a>'
                        f'<code>{line.html}</code></div>')
            if line.deductions:
                notes = "".join(_note(d) for d in line.deductions)
                rows.append(f'<ul class="cv-notes" aria-label="Deductions at line {line.number}">'
                            f"{notes}</ul>")
        rows.append("</div>")
        return "\n".join(rows)


def _note(d: Located) -> str:
    points = f"{d.points:g}"
    return (f'<li class="cv-note"><span class="cv-pts">−{html.escape(points)}</span> '
            f'<span class="cv-where">{html.escape(d.item_id)} · {html.escape(d.where)}</span> '
            f"{html.escape(d.message)}</li>")


def css() -> str:
    """Pygments' token colours scoped to the listing, for the page to inline (no CDN, no file)."""
    rules = HtmlFormatter().get_style_defs(CSS_SCOPE).splitlines()
    return "\n".join(r for r in rules if r.startswith(CSS_SCOPE))  # not Pygments' global `pre`, linenos


# ---------------------------------------------------------------- reading the source


def _normalise(source: str) -> str:
    # Python reads \r\n and a lone \r as line ends; counting lines the same way keeps
    # ast's line numbers and the shown lines in step.
    return source.replace("\r\n", "\n").replace("\r", "\n")


def _call_name(node: ast.AST | None) -> str | None:
    """`nn.Conv2d(...)`, `torch.nn.Conv2d(...)` and `Conv2d(...)` are all "Conv2d"."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_self_attr(target: ast.AST, attr: str) -> bool:
    return (isinstance(target, ast.Attribute) and target.attr == attr
            and isinstance(target.value, ast.Name) and target.value.id == "self")


def _mentions(test: ast.AST, flags: frozenset[str]) -> bool:
    return any((isinstance(n, ast.Name) and n.id in flags)
               or (isinstance(n, ast.Attribute) and n.attr in flags) for n in ast.walk(test))


def _negated(test: ast.AST) -> bool:
    """`not downsample`, `downsample == False`, `downsample is not True`: the test means "no"."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return not _negated(test.operand)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        other = test.comparators[0]
        if isinstance(other, ast.Constant) and isinstance(other.value, (bool, int)):
            truthy = bool(other.value)
            if isinstance(test.ops[0], (ast.Eq, ast.Is)):
                return not truthy
            if isinstance(test.ops[0], (ast.NotEq, ast.IsNot)):
                return truthy
    return False


def _statements(body: list[ast.stmt], flags: frozenset[str] = frozenset({"downsample"}),
                branch: bool | None = None, in_loop: bool = False) -> Iterator[tuple[ast.stmt, bool | None, bool]]:
    """Every statement in source order, with its downsample branch (True, False, None: both).

    `flags` are the names that mean "downsample" here: the attribute, and the parameter as
    the student named it.
    """
    for stmt in body:
        yield stmt, branch, in_loop
        if isinstance(stmt, ast.If):
            if _mentions(stmt.test, flags):
                yes = not _negated(stmt.test)
                yield from _statements(stmt.body, flags, yes, in_loop)
                yield from _statements(stmt.orelse, flags, not yes, in_loop)
            else:
                yield from _statements(stmt.body, flags, branch, in_loop)
                yield from _statements(stmt.orelse, flags, branch, in_loop)
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            yield from _statements(stmt.body, flags, branch, True)
            yield from _statements(stmt.orelse, flags, branch, True)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _statements(stmt.body, flags, branch, in_loop)
        elif isinstance(stmt, ast.Try):
            for part in (stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody):
                yield from _statements(part, flags, branch, in_loop)


def _assigned(stmt: ast.stmt) -> tuple[list[ast.expr], ast.expr | None]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets, stmt.value
    if isinstance(stmt, ast.AnnAssign):
        return [stmt.target], stmt.value
    return [], None


def _in_branch(found: list[tuple[_T, bool | None]], want: bool | None) -> tuple[_T, bool | None] | None:
    """The last entry in branch `want`, else the last outside any branch, else None."""
    for wanted in (want, None):
        matching = [f for f in found if f[1] is wanted]
        if matching:
            return matching[-1]
    return None


class _Source:
    """One parsed file and the lookups the deduction kinds need."""

    def __init__(self, tree: ast.Module) -> None:
        self.classes: dict[str, ast.ClassDef] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
        for node in ast.walk(tree):  # classes nested in an `if` or a function, if not at top level
            if isinstance(node, ast.ClassDef):
                self.classes.setdefault(node.name, node)

    # -------------------------------------------------------- where → line

    def locate(self, item_id: str, place: Place) -> int | None:
        if place.scope == "block":
            return self._block(item_id, place)
        line = self._model(place)
        if line is not None:
            return line
        if item_id.startswith("q2_"):  # not graded, or a place this reader does not find
            layer = item_id[3:]
            return self._attr_line(layer) if _LAYER_NAME.fullmatch(layer) else self._init_line(MODEL_CLASS)
        return None

    def _block(self, item_id: str, place: Place) -> int | None:
        cls = self.classes.get(BLOCK_CLASS)
        if cls is None:
            return None
        want = "no_downsample" not in item_id  # q1_downsample: the downsample branch
        params = self._params(BLOCK_CLASS) or []
        flags = frozenset({"downsample", *params[3:4]})
        if place.forward:
            forward = self._method(cls, "forward")
            if forward is None:
                return cls.lineno
            returns = [(s, branch) for s, branch, _ in _statements(forward.body, flags)
                       if isinstance(s, ast.Return)]
            # `if self.downsample: return ...` then a return for the other case: prefer the
            # return inside the item's own branch, then one outside any branch.
            best = _in_branch(returns, want)
            return best[0].lineno if best else forward.lineno
        init = self._method(cls, "__init__")
        if init is None:
            return cls.lineno
        found = self._self_assign(init, "layer", want, flags)
        if found is None:
            return init.lineno
        stmt, value = found
        if place.index is not None and value is not None:
            element = self._unit_element(self._elements(value, init), place.index)
            if element is not None:
                return element.lineno
        return stmt.lineno

    def _model(self, place: Place) -> int | None:
        cls = self.classes.get(MODEL_CLASS)
        init = self._method(cls, "__init__") if cls is not None else None
        if init is None:
            return cls.lineno if cls is not None else None
        if place.forward:
            forward = self._method(cls, "forward")  # type: ignore[arg-type]
            return forward.lineno if forward is not None else cls.lineno  # type: ignore[union-attr]
        if place.attr is None:  # an argument of the model's own __init__, or the whole model
            return self._default_line(init, place.path[0]) if place.path[:1] == ["num_classes"] else None
        found = self._self_assign(init, place.attr, None)
        if found is None:
            return None
        stmt, value = found
        path = place.path
        if (place.index is None and not path) or value is None:
            return stmt.lineno
        if place.attr == "layer1" and place.index is None and path[0] in _LAYER1_KINDS:
            call = self._first_call(self._elements(value, init), _LAYER1_KINDS[path[0]], init, 0)
            if call is None:
                return stmt.lineno
            return self._arg_line(call, path[1] if len(path) > 1 else None)
        if place.index is not None:
            elements = self._elements(value, init)
            if elements is None or place.index >= len(elements):
                return stmt.lineno
            element = elements[place.index]
            return self._arg_line(element, path[0]) if path else element.lineno
        kind = _EXPECTED_KIND.get(place.attr)
        if kind is not None and _call_name(value) == kind:
            return self._arg_line(value, path[0])
        return stmt.lineno  # layer3.count/.channels/.order, or fc is not a Linear

    # -------------------------------------------------------- lookups

    @staticmethod
    def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
        return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name), None)

    def _init_line(self, class_name: str) -> int | None:
        cls = self.classes.get(class_name)
        if cls is None:
            return None
        init = self._method(cls, "__init__")
        return init.lineno if init is not None else cls.lineno

    def _attr_line(self, attr: str) -> int | None:
        cls = self.classes.get(MODEL_CLASS)
        init = self._method(cls, "__init__") if cls is not None else None
        found = self._self_assign(init, attr, None) if init is not None else None
        return found[0].lineno if found else self._init_line(MODEL_CLASS)

    @staticmethod
    def _self_assign(func: ast.FunctionDef, attr: str, branch: bool | None,
                     flags: frozenset[str] = frozenset({"downsample"})) -> tuple[ast.stmt, ast.expr | None] | None:
        """The last `self.<attr> = ...` in `func` (in the given downsample branch, if any there)."""
        hits: list[tuple[ast.stmt, ast.expr | None, bool | None]] = []
        for stmt, where, _ in _statements(func.body, flags):
            targets, value = _assigned(stmt)
            if any(_is_self_attr(t, attr) for t in targets):
                hits.append((stmt, value, where))
        if not hits:
            return None
        if branch is None:
            return hits[-1][0], hits[-1][1]
        # Only in the other branch: that line would mislead; the caller falls back.
        best = _in_branch([((stmt, value), where) for stmt, value, where in hits], branch)
        return best[0] if best else None

    @staticmethod
    def _default_line(func: ast.FunctionDef, name: str) -> int:
        args = func.args
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        pairs = [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]
        for arg, default in pairs:
            if arg.arg == name:
                return default.lineno if default is not None else arg.lineno
        return func.lineno

    def _elements(self, value: ast.expr, func: ast.FunctionDef, depth: int = 0) -> list[ast.expr] | None:
        """The modules of `nn.Sequential(...)`, each as the expression that builds it (None: unknown)."""
        if depth > MAX_DEPTH or _call_name(value) != "Sequential":
            return None
        assert isinstance(value, ast.Call)
        args = value.args
        if len(args) == 1 and _call_name(args[0]) == "OrderedDict" and isinstance(args[0], ast.Call) and args[0].args:
            items = self._items(args[0].args[0], func, value.lineno, depth)
            if items is None:
                return None
            pairs = [i for i in items if isinstance(i, ast.Tuple) and len(i.elts) == 2]
            return [p.elts[1] for p in pairs] if len(pairs) == len(items) else None
        return self._items(ast.List(elts=list(args), ctx=ast.Load()), func, value.lineno, depth)

    def _items(self, node: ast.expr, func: ast.FunctionDef, used_at: int, depth: int) -> list[ast.expr] | None:
        """The entries of a list expression: a literal, `a + b`, `[x] * 3`, or a local name."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, (ast.List, ast.Tuple)):
            out: list[ast.expr] = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    inner = self._items(elt.value, func, used_at, depth + 1)
                    if inner is None:
                        return None
                    out += inner
                else:
                    out.append(elt)
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self._items(node.left, func, used_at, depth + 1)
            right = self._items(node.right, func, used_at, depth + 1)
            return left + right if left is not None and right is not None else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            for seq, times in ((node.left, node.right), (node.right, node.left)):
                if isinstance(times, ast.Constant) and isinstance(times.value, int) and 0 <= times.value <= 64:
                    inner = self._items(seq, func, used_at, depth + 1)
                    return inner * times.value if inner is not None else None
            return None
        if isinstance(node, ast.Name):
            return self._local_list(node.id, func, used_at, depth)
        return None  # a comprehension, a call: no fixed entries to point at

    def _local_list(self, name: str, func: ast.FunctionDef, used_at: int, depth: int) -> list[ast.expr] | None:
        """`blocks = [...]` then `blocks.append(...)`/`+=`, before the Sequential uses it."""
        entries: list[ast.expr] | None = None
        for stmt, _, in_loop in _statements(func.body):
            if stmt.lineno >= used_at:
                break
            targets, value = _assigned(stmt)
            if any(isinstance(t, ast.Name) and t.id == name for t in targets) and value is not None:
                entries = None if in_loop else self._items(value, func, stmt.lineno, depth + 1)
                continue
            extra = self._list_growth(stmt, name)
            if extra is not None and entries is not None:
                grown = None if in_loop else self._items(extra, func, stmt.lineno, depth + 1)
                entries = entries + grown if grown is not None else None
        return entries

    @staticmethod
    def _list_growth(stmt: ast.stmt, name: str) -> ast.expr | None:
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add) \
                and isinstance(stmt.target, ast.Name) and stmt.target.id == name:
            return stmt.value
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            func = call.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                    and func.value.id == name and len(call.args) == 1:
                if func.attr == "append":
                    return ast.List(elts=[call.args[0]], ctx=ast.Load())
                if func.attr == "extend":
                    return call.args[0]
        return None

    def _units(self, element: ast.expr, depth: int) -> int:
        """How many conv units an entry of `layer` holds (the judge groups modules by their convs)."""
        name = _call_name(element)
        if name is None or depth > MAX_DEPTH:
            return 0
        if name == "Sequential":
            assert isinstance(element, ast.Call)
            return sum(self._units(a, depth + 1) for a in element.args if not isinstance(a, ast.Starred))
        helper = self.functions.get(name)
        if helper is not None:
            convs = sum(1 for n in ast.walk(helper) if _call_name(n) == "Conv2d")
            if convs:
                return convs
        return 1 if "conv" in name.lower() else 0

    def _unit_element(self, elements: list[ast.expr] | None, unit: int) -> ast.expr | None:
        if elements is None:
            return None
        seen = 0
        for element in elements:
            starts = self._units(element, 0) or (1 if seen == 0 else 0)
            if seen <= unit < seen + starts:
                return element
            seen += starts
        return None

    def _first_call(self, elements: list[ast.expr] | None, kind: str, func: ast.FunctionDef,
                    depth: int) -> ast.Call | None:
        """The first `kind(...)` among the entries, looking into nested Sequentials."""
        for element in elements or []:
            if _call_name(element) == kind:
                assert isinstance(element, ast.Call)
                return element
            if depth < MAX_DEPTH and _call_name(element) == "Sequential":
                inner = self._first_call(self._elements(element, func, depth + 1), kind, func, depth + 1)
                if inner is not None:
                    return inner
        return None

    def _params(self, name: str | None) -> list[str] | None:
        if name is None:
            return None
        if name in _SIGNATURES:
            return _SIGNATURES[name]
        if name == BLOCK_CLASS:  # the student's own parameter names: the judge binds them in order
            cls = self.classes.get(BLOCK_CLASS)
            init = self._method(cls, "__init__") if cls is not None else None
            if init is None:
                return _BLOCK_PARAMS
            names = [a.arg for a in [*init.args.posonlyargs, *init.args.args][1:]]
            return names or _BLOCK_PARAMS
        return None

    def _arg_line(self, node: ast.expr, param: str | None) -> int:
        """The line of one argument of a call (the keyword's line, or the positional's)."""
        if param is None or not isinstance(node, ast.Call):
            return node.lineno
        params = self._params(_call_name(node))
        # A blank names the skeleton's parameter; the student may have renamed it, so map
        # through the position the skeleton gives it.
        name = param
        if params is not None and _call_name(node) == BLOCK_CLASS and param in _BLOCK_PARAMS:
            index = _BLOCK_PARAMS.index(param)
            name = params[index] if index < len(params) else param
        for kw in node.keywords:
            if kw.arg == name:
                return kw.lineno
        if params is not None and name in params:
            index = params.index(name)
            before = node.args[: index + 1]
            if index < len(node.args) and not any(isinstance(a, ast.Starred) for a in before):
                return node.args[index].lineno
        return node.lineno


def _parse(source: str) -> _Source | None:
    if len(source.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    try:
        return _Source(ast.parse(source))
    except Exception:  # SyntaxError, null bytes (ValueError), nesting (RecursionError, MemoryError)
        return None


def locate(source: str, item_id: str, where: str, place: Place | None = None) -> int | None:
    """The 1-based line of the student's `source` a deduction (`item_id`, `where`, its `place`
    when the report has one) belongs to.

    None when the deduction is about no line (accuracy), the file does not parse, or nothing
    in it matches. Never raises: the file is whatever a student uploaded.
    """
    parsed = _parse(_normalise(source))
    return _safe_locate(parsed, item_id, where, place)


def place_of(item_id: str, where: str) -> Place | None:
    """The place of a deduction from a report stored before deductions had one, read from its
    `where` text: `layer[1]` and `forward` of a block, a blank's id, `layer3.count`."""
    if item_id == "accuracy" or where == "accuracy":
        return None
    unit = _BLOCK_WHERE.fullmatch(where)
    if where == "forward":
        return Place(scope="block", forward=True)
    if item_id.startswith("q1_") or unit:
        return Place(scope="block", attr="layer", index=int(unit.group(1)) if unit else None)
    return Place.of_blank(where)


def _safe_locate(parsed: _Source | None, item_id: str, where: str, place: Place | None = None) -> int | None:
    if parsed is None:
        return None
    try:
        place = place or place_of(item_id, where)
        return parsed.locate(item_id, place) if place is not None else None
    except Exception:  # an AST shape no lookup foresaw, or a `where` no reader knows: no line rather than no page
        return None


# ---------------------------------------------------------------- rendering


def _lines(text: str) -> list[str]:
    if not text:
        return []
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def _shown(lines: list[str]) -> tuple[list[str], bool]:
    """The lines to show, and whether some were left out."""
    truncated = len(lines) > MAX_LINES
    lines = lines[:MAX_LINES]
    size, kept = 0, []
    for line in lines:
        size += len(line.encode("utf-8", "surrogatepass")) + 1
        if size > MAX_BYTES:
            truncated = True
            break
        kept.append(line)
    return kept, truncated


def _highlight(lines: list[str]) -> list[str]:
    """One escaped, highlighted HTML fragment per line, each with its spans closed."""
    if not lines:
        return []
    lexer = PythonLexer(stripnl=False, stripall=False, ensurenl=True)
    out = highlight("\n".join(lines) + "\n", lexer, HtmlFormatter(nowrap=True)).split("\n")
    if len(out) < len(lines):  # never seen; keep the page correct rather than misaligned
        return [html.escape(line) for line in lines]
    return out[: len(lines)]


def render(source: str, report: Report) -> CodeView:
    """The listing for the TA's page: highlighted lines, each with the deductions found there."""
    text = _normalise(source)
    parsed = _parse(text)
    all_lines = _lines(text)
    shown, truncated = _shown(all_lines)
    safe_lines = [_UNSAFE_CHARS.sub("\ufffd", line) for line in shown]
    replaced = sum(len(_UNSAFE_CHARS.findall(line)) for line in shown)
    view = CodeView(parsed=parsed is not None, truncated=truncated, total_lines=len(all_lines),
                    replaced_chars=replaced)
    view.lines = [CodeLine(number=i + 1, html=frag) for i, frag in enumerate(_highlight(safe_lines))]
    for item in report.items:
        for d in item.deductions:
            line = _safe_locate(parsed, item.id, d.where, d.place)
            located = Located(item_id=item.id, where=d.where, points=d.points, message=d.message, line=line)
            if line is not None and 1 <= line <= len(view.lines):
                view.lines[line - 1].deductions.append(located)
            else:
                view.unplaced.append(located)
    return view

