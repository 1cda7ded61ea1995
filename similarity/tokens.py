"""Python source → a normalized token stream, the unit the fingerprints are taken over.

The normalization decides what a copier can change without the copy going unseen:

- user identifiers (variables, parameters, helper and attribute names) become one
  placeholder, so renaming does nothing; Python keywords, builtins and torch/nn API names
  stay, because they carry the structure (`nn.Conv2d(...)` is not `nn.Linear(...)`);
- numbers stay as written: an identical unusual constant (a `0.5 *` on the shortcut) is
  evidence, and the channel counts keep one layer apart from another;
- strings become one placeholder (docstrings and messages are easy to reword, and their
  content is mostly boilerplate);
- layout is dropped entirely (NEWLINE, NL, INDENT, DEDENT), and so is a trailing comma before
  a closing bracket, so re-indenting, re-wrapping and blank lines change nothing;
- comments count: each contributes its lower-cased words, since copied comments (typos
  included) are the classic giveaway, and two independent students rarely word one alike.

The stdlib `tokenize` does the lexing, so string contents, f-strings and comments are split
the way Python itself splits them. A file that does not lex (an unterminated string, a
dedent that matches nothing, binary data) still yields what could be read, with a reason;
this module never raises on its input.
"""
from __future__ import annotations

import builtins
import io
import keyword
import re
import tokenize
from dataclasses import dataclass

from similarity._vocab import TORCH_NAMES

IDENT = "V"
"""The placeholder every user identifier becomes."""
STRING = "S"
"""The placeholder every string literal becomes."""
COMMENT_PREFIX = "#"
"""Comment words are kept as `#word`, so a comment saying `return` is not the keyword."""

MAX_SOURCE_CHARS = 200_000
"""Sources are cut here: a real submission is ~5 kB; a 10 MB upload must not stall a class."""

KEPT_NAMES: frozenset[str] = frozenset(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | {n for n in dir(builtins) if not n.startswith("_")}
    | {"self", "cls", "torch", "nn", "F", "__init__", "__name__", "__main__"}
    | TORCH_NAMES
)
"""Names that stay themselves; every other NAME token becomes `IDENT`."""

_SKIPPED = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
            tokenize.ENDMARKER}
_CLOSERS = {")", "]", "}"}
_WORD = re.compile(r"[0-9a-z_]+")  # splits comment text into words, not code


@dataclass(frozen=True)
class TokenStream:
    """Normalized tokens of one file, each with the 1-based source line it came from.

    `reason` is None for a file that lexed cleanly; otherwise it says why the stream is
    partial or empty (kept in the report so a TA knows a file was not fully compared).
    """

    texts: tuple[str, ...] = ()
    lines: tuple[int, ...] = ()
    reason: str | None = None
    source_lines: int = 0

    def __len__(self) -> int:
        return len(self.texts)


def normalize(source: str | bytes) -> TokenStream:
    """The normalized token stream of `source`; never raises.

    Bytes are decoded as UTF-8 (a file that is not UTF-8, or that holds NUL bytes, gives an
    empty stream with its reason). A file that fails to lex part way is retried with every
    line's indentation removed (indentation carries nothing here, and this gets past dedent
    errors), and failing that keeps the tokens read before the error.
    """
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            return TokenStream(reason=f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    if "\x00" in source:
        return TokenStream(reason="binary data (NUL bytes), not Python source")
    reason: str | None = None
    if len(source) > MAX_SOURCE_CHARS:
        source = source[:MAX_SOURCE_CHARS]
        reason = f"cut to its first {MAX_SOURCE_CHARS} characters"
    n_lines = source.count("\n") + 1
    texts, lines, error = _lex(source)
    if error is not None:
        flat = "\n".join(line.lstrip(" \t\f") for line in source.split("\n"))
        flat_texts, flat_lines, flat_error = _lex(flat)
        if flat_error is None or len(flat_texts) > len(texts):
            texts, lines, error = flat_texts, flat_lines, flat_error
            if error is None:
                reason = _join(reason, "lexed with indentation removed")
        if error is not None:
            reason = _join(reason, f"partial: {error}")
    return TokenStream(texts=tuple(texts), lines=tuple(lines), reason=reason, source_lines=n_lines)


def _lex(source: str) -> tuple[list[str], list[int], str | None]:
    """Normalized tokens up to the end or to the first lexing error (returned as text)."""
    texts: list[str] = []
    lines: list[int] = []
    fstring_depth = 0  # Python 3.12+ lexes f-strings into parts; one f-string is one STRING
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            kind = tok.type
            if kind in _FSTRING_START:
                fstring_depth += 1
                if fstring_depth == 1 and not (texts and texts[-1] == STRING):
                    texts.append(STRING)
                    lines.append(tok.start[0])
                continue
            if fstring_depth:
                fstring_depth -= kind in _FSTRING_END
                continue
            if kind in _SKIPPED:
                continue
            line = tok.start[0]
            if kind == tokenize.COMMENT:
                for word in _WORD.findall(tok.string.lower()):
                    texts.append(COMMENT_PREFIX + word)
                    lines.append(line)
                continue
            if kind == tokenize.NAME:
                text = tok.string if tok.string in KEPT_NAMES else IDENT
            elif kind == tokenize.STRING:
                if texts and texts[-1] == STRING:  # "a" "b": one literal, however it was wrapped
                    continue
                text = STRING
            elif kind == tokenize.OP and tok.string in _CLOSERS and texts and texts[-1] == ",":
                texts.pop()  # `f(a, b,)` and `f(a, b)` are one call, however it was wrapped
                lines.pop()
                text = tok.string
            else:
                text = tok.string
            texts.append(text)
            lines.append(line)
    except tokenize.TokenError as exc:
        line = exc.args[1][0] if len(exc.args) > 1 else "?"
        return texts, lines, f"{exc.args[0]} (line {line})"
    except SyntaxError as exc:  # IndentationError: a dedent that matches no outer level
        return texts, lines, f"{exc.msg} (line {exc.lineno})"
    except Exception as exc:  # noqa: BLE001 - the lexer on hostile input: a reason, not a crash
        return texts, lines, f"{type(exc).__name__}: {exc}"
    return texts, lines, None


# Python 3.12 splits f-strings into FSTRING_START/MIDDLE/END; 3.11 has one STRING token.
_FSTRING_START = {tokenize.FSTRING_START} if hasattr(tokenize, "FSTRING_START") else set()
_FSTRING_END = {tokenize.FSTRING_END} if hasattr(tokenize, "FSTRING_END") else set()


def _join(first: str | None, second: str) -> str:
    return second if first is None else f"{first}; {second}"
