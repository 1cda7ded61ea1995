"""similarity.tokens: what a copier can change without changing the stream, and bad input."""
from __future__ import annotations

from similarity.tokens import COMMENT_PREFIX, IDENT, STRING, normalize
from tests.similarity.samples import REFERENCE, disguised_copy, rename, wrong_solution


def test_renamed_and_reformatted_copy_has_the_same_stream() -> None:
    src = wrong_solution()
    original, copy = normalize(src), normalize(disguised_copy(src))
    # The copy adds one comment line ("# my own work"); everything after it is identical.
    assert copy.texts[:3] == (COMMENT_PREFIX + "my", COMMENT_PREFIX + "own", COMMENT_PREFIX + "work")
    assert copy.texts[3:] == original.texts
    assert original.reason is None and copy.reason is None


def test_user_names_become_one_placeholder_but_api_names_and_keywords_stay() -> None:
    stream = normalize("def f(a, b=None):\n    return nn.Conv2d(a, b, 3) if len(a) else torch.flatten(self.x, 1)\n")
    assert stream.texts == ("def", IDENT, "(", IDENT, ",", IDENT, "=", "None", ")", ":", "return", "nn", ".", "Conv2d",
                            "(", IDENT, ",", IDENT, ",", "3", ")", "if", "len", "(", IDENT, ")", "else", "torch",
                            ".", "flatten", "(", "self", ".", IDENT, ",", "1", ")")


def test_numbers_stay_strings_collapse_and_comments_give_their_words() -> None:
    stream = normalize('x = 0.5 * y  # Halve it, QUICKLY!\nmsg = "hello" \'world\'\n')
    assert stream.texts == (IDENT, "=", "0.5", "*", IDENT, "#halve", "#it", "#quickly", IDENT, "=", STRING)
    assert stream.lines == (1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2)
    assert normalize("x = 0.25 * y").texts != normalize("x = 0.5 * y").texts


def test_layout_does_not_matter_not_even_a_trailing_comma() -> None:
    wrapped = "f(\n    a,\n    b,\n)\n\n\n"
    flat = "f(a, b)"
    assert normalize(wrapped).texts == normalize(flat).texts
    assert normalize("if a:\n\tb = 1\n").texts == normalize("if a:\n        b = 1\n").texts


def test_rename_is_the_only_difference_a_placeholder_hides() -> None:
    assert normalize(rename(REFERENCE, {"out": "result", "x": "inp"})).texts == normalize(REFERENCE).texts
    assert normalize(REFERENCE.replace("nn.ReLU", "nn.GELU")).texts != normalize(REFERENCE).texts


def test_unterminated_string_gives_the_tokens_before_it_and_a_reason() -> None:
    stream = normalize('a = 1\nb = """never closed\nc = 2\n')
    assert stream.texts[:3] == (IDENT, "=", "1") and stream.reason and "partial" in stream.reason


def test_a_dedent_to_nowhere_is_read_with_indentation_removed() -> None:
    stream = normalize("if a:\n        b = 1\n    c = 2\n")
    assert stream.texts == ("if", IDENT, ":", IDENT, "=", "1", IDENT, "=", "2")
    assert stream.reason == "lexed with indentation removed"


def test_bytes_that_are_not_utf8_or_hold_nul_give_an_empty_stream_with_a_reason() -> None:
    bad = normalize(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert bad.texts == () and bad.reason and "UTF-8" in bad.reason
    nul = normalize("import os\x00\x00\x01")
    assert nul.texts == () and nul.reason and "binary" in nul.reason
    assert normalize(b"x = 1\n").texts == (IDENT, "=", "1")
    assert normalize("").texts == () and normalize("").reason is None


def test_hostile_but_lexable_input_never_raises() -> None:
    for src in ["$$$ ?? `", "def f(:\n", "'unclosed\n", "\\\n", "((((", ")))", "\t\t x\n y", "f'{x!r:>{w}}'"]:
        normalize(src)
