"""Deductions at their lines: the `where` strings come from the real judge, run on facts the
child's own probes read off each file (in-process: these files are ours, not students')."""
from __future__ import annotations

import html
import re
import types
from functools import lru_cache

import pytest
import torch

from api.code_view import MAX_LINES, css, locate, render
from grader import judge
from grader.child import probe
from grader.expected import ExpectedBlock
from grader.findings import BlockFacts, Failure, ModelFacts, rows
from grader.report import Deduction, EquivalenceCheck, Item, Place, Report, ShapesCheck, Submission
from grader.rubric import SOLUTION, load_rubric, load_table
from tests.grader.mutations import MUTATIONS

REFERENCE = SOLUTION.read_text()


# ---------------------------------------------------------------- the real judge on probe facts

def _module(source: str) -> types.ModuleType:
    module = types.ModuleType("resnet50_skeleton")
    exec(compile(source, "resnet50_skeleton.py", "exec"), module.__dict__)  # our own test text
    return module


def _error(exc: BaseException) -> Failure:
    return Failure(type=type(exc).__name__, message=str(exc)[:2000])


def _run_block(cls: type, args: tuple, x: torch.Tensor, weights: dict | None) -> dict:
    """What grader/child/main.py's run_block reports, for a block built here."""
    torch.manual_seed(0)
    block = cls(*args)
    block.eval()
    found: dict = {"modules": probe.describe_modules(block), "shape": None, "shape_error": None,
                   "output": None, "load_error": None, "graph": None, "state": block.state_dict()}
    try:
        with torch.no_grad():
            found["shape"] = list(block(x.clone()).shape)
        if weights is not None:
            block.load_state_dict(weights, strict=True)
        out = block(x.clone())
        found["graph"], found["output"] = probe.graph_signature(out), out.detach().flatten()
    except RuntimeError as exc:
        key = "load_error" if "state_dict" in str(exc) else "shape_error"
        found[key] = str(exc)[:1000] if key == "load_error" else _error(exc)
    return found


@lru_cache(maxsize=1)
def _reference_blocks() -> dict[str, dict]:
    ref, table = _module(REFERENCE), load_table()
    out = {}
    for name, spec in table.probe_blocks.items():
        torch.manual_seed(1)
        x = torch.randn(*spec.input)
        out[name] = {"x": x, **_run_block(ref.ResidualBlock, tuple(spec.args), x, None)}
    return out


def judged(source: str) -> Report:
    """The report the judge writes for `source` (structure items; no sandbox, no training)."""
    module, table, rubric = _module(source), load_table(), load_rubric()
    items: list[Item] = []
    for item_id, item in (("q1_downsample", rubric.q1_downsample), ("q1_no_downsample", rubric.q1_no_downsample)):
        spec, ref = table.probe_blocks[item.block], _reference_blocks()[item.block]
        found = _run_block(module.ResidualBlock, tuple(spec.args), ref["x"], ref["state"])
        msg = BlockFacts(modules=rows(found["modules"]), shape=found["shape"],
                         shape_error=found["shape_error"],
                         output=None if found["output"] is None else found["output"].tolist(),
                         load_error=found["load_error"], graph=found["graph"])
        expected = ExpectedBlock(modules=ref["modules"], state_dict=[], shape=ref["shape"],
                                 output=ref["output"], graph=ref["graph"])
        items.append(judge.judge_block(item, item_id, msg, expected, spec.args, None))
    recorder = probe.CtorRecorder()
    recorder.install(module.ResidualBlock)
    with torch.device("meta"):  # structure only: no weights allocated
        model = module.ResNet50_layer4()
    default = module.ResNet50_layer4.__init__.__defaults__
    facts = ModelFacts(num_classes_default=default[0] if default else None,
                       modules=rows(probe.describe_modules(model, module.ResidualBlock, recorder)))
    shapes, equivalence = ShapesCheck(rows=[]), EquivalenceCheck()
    items.append(judge.judge_blanks(rubric.q2_blanks, facts, shapes, equivalence, None))
    for item_id, layer_item in (("q2_layer3", rubric.q2_layer3), ("q2_layer4", rubric.q2_layer4)):
        items.append(judge.judge_layer(layer_item, item_id, facts, table, shapes, None))
    return report_of(items, source)


def report_of(items: list[Item], source: str) -> Report:
    return Report(submission=Submission(filename="resnet50_skeleton.py", sha256="0" * 64, size_bytes=len(source)),
                  status="graded", score=sum(i.points for i in items),
                  max_score=sum(i.max_points for i in items), items=items)


def hand_report(*deductions: tuple[str, str]) -> Report:
    items = [Item(id=item_id, title=item_id, points=0, max_points=1, passed=False,
                  deductions=[Deduction(where=where, points=1, message=f"{item_id} {where}")])
             for item_id, where in deductions]
    return report_of(items, "")


def deductions(report: Report) -> dict[tuple[str, str], float]:
    return {(i.id, d.where): d.points for i in report.items for d in i.deductions}


def line_of(source: str, n: int | None) -> str:
    assert n is not None
    return source.split("\n")[n - 1]


def first_line(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.split("\n"), 1) if text in line)


# ---------------------------------------------------------------- the reference file

def test_reference_is_judged_clean() -> None:
    assert deductions(judged(REFERENCE)) == {}


REFERENCE_LINES = {
    "num_classes": "def __init__(self, num_classes=10)",
    **{f"layer1.conv.{p}": "nn.Conv2d(3, 64, 7, 2, 3)"
       for p in ("in_channels", "out_channels", "kernel_size", "stride", "padding")},
    **{f"layer1.maxpool.{p}": "nn.MaxPool2d(3, 2, 1)" for p in ("kernel_size", "stride", "padding")},
    **{f"layer2.0.{p}": "ResidualBlock(64, 64, 256, False)"
       for p in ("in_channels", "middle_channels", "out_channels", "downsample")},
    **{f"layer2.1.{p}": "ResidualBlock(256, 64, 256, False)"
       for p in ("in_channels", "middle_channels", "out_channels", "downsample")},
    **{f"layer2.2.{p}": "ResidualBlock(256, 64, 256, True)"
       for p in ("in_channels", "middle_channels", "out_channels", "downsample")},
    "fc.in_features": "self.fc = nn.Linear(1024, num_classes)",
    "fc.out_features": "self.fc = nn.Linear(1024, num_classes)",
    "avgpool.kernel_size": "self.avgpool = nn.AvgPool2d(2, 2)",
    "avgpool.stride": "self.avgpool = nn.AvgPool2d(2, 2)",
}


def test_every_blank_of_the_reference_is_at_its_module() -> None:
    blanks = [b.id for b in load_rubric().q2_blanks.blanks]
    assert sorted(blanks) == sorted(REFERENCE_LINES)
    for blank in blanks:
        assert REFERENCE_LINES[blank] in line_of(REFERENCE, locate(REFERENCE, "q2_blanks", blank)), blank
    # one line per module the blanks belong to: 1 default, conv, maxpool, 3 blocks, fc, avgpool
    assert len({locate(REFERENCE, "q2_blanks", b) for b in blanks}) == 8


def test_block_units_are_the_elements_of_each_branch() -> None:
    downsize, equal = first_line(REFERENCE, "self.downsize"), first_line(REFERENCE, "self.make_equal_channel")
    for item_id, lo, hi in (("q1_downsample", 0, downsize), ("q1_no_downsample", downsize, equal)):
        lines = [locate(REFERENCE, item_id, f"layer[{i}]") for i in range(3)]
        assert all(lo < n < hi for n in lines), item_id
        assert "conv1x1(in_channels, middle_channels" in line_of(REFERENCE, lines[0])
        assert "conv3x3(middle_channels, middle_channels, 1, 1)" in line_of(REFERENCE, lines[1])
        assert "conv1x1(middle_channels, out_channels, 1, 0)" in line_of(REFERENCE, lines[2])
        # an extra unit the file does not have, and the item not graded at all: the Sequential
        assert "self.layer = nn.Sequential(" in line_of(REFERENCE, locate(REFERENCE, item_id, "layer[3]"))
        assert "self.layer = nn.Sequential(" in line_of(REFERENCE, locate(REFERENCE, item_id, item_id))


def test_layer_items_and_the_rest() -> None:
    for where in ("layer3.count", "layer3.channels", "layer3.downsample", "layer3.order", "layer3.9"):
        assert "self.layer3 = nn.Sequential(" in line_of(REFERENCE, locate(REFERENCE, "q2_layer3", where))
    assert "ResidualBlock(512, 128, 512, True)" in line_of(REFERENCE, locate(REFERENCE, "q2_layer3", "layer3.3"))
    assert "self.layer4 = " in line_of(REFERENCE, locate(REFERENCE, "q2_layer4", "q2_layer4"))
    assert "def __init__(self, num_classes" in line_of(REFERENCE, locate(REFERENCE, "q2_blanks", "q2_blanks"))
    assert locate(REFERENCE, "accuracy", "accuracy") is None
    assert locate(REFERENCE, "accuracy", "fc.in_features") is None
    assert locate(REFERENCE, "other", "nothing.we.know") is None


# ---------------------------------------------------------------- known mistakes, judged for real

MUTATION_LINES: dict[str, dict[tuple[str, str], str]] = {
    "stride_on_3x3": {("q1_downsample", "layer[0]"): "conv1x1(in_channels, middle_channels, 1, 0)",
                      ("q1_downsample", "layer[1]"): "conv3x3(middle_channels, middle_channels, 2, 1)"},
    "layer1_padding_5_0": {("q2_blanks", "layer1.conv.padding"): "nn.Conv2d(3, 64, 7, 2, 5)",
                           ("q2_blanks", "layer1.maxpool.padding"): "nn.MaxPool2d(3, 2, 0)"},
    "padding0_on_3x3": {("q1_downsample", "layer[1]"): "conv3x3(middle_channels, middle_channels, 1, 0)",
                        ("q1_no_downsample", "layer[1]"): "conv3x3(middle_channels, middle_channels, 1, 0)"},
    "missing_block_layer3": {("q2_layer3", "layer3.count"): "self.layer3 = nn.Sequential("},
    "wrong_num_classes": {("q2_blanks", "num_classes"): "num_classes=100"},
    "downsample_first_layer3": {("q2_layer3", "layer3.order"): "self.layer3 = nn.Sequential("},
    "relu_after_addition": {("q1_downsample", "forward"): "return torch.relu(out + x)",
                            ("q1_no_downsample", "forward"): "return torch.relu(out + x)"},
}



@pytest.mark.parametrize("name", sorted(MUTATION_LINES))
def test_a_stored_report_without_places_still_loads_and_places_the_same(name: str) -> None:
    """Reports in the database are JSON of the shape before `Deduction.place`: they load, and
    their `where` text puts each deduction on the line the place does."""
    source = MUTATIONS[name].apply()
    report = judged(source)
    assert all(d.place is not None for i in report.items for d in i.deductions)
    stored = report.model_dump(mode="json")
    for item in stored["items"]:
        for d in item["deductions"]:
            del d["place"]
    old = Report.model_validate(stored)
    assert all(d.place is None for i in old.items for d in i.deductions)

    def lines(r: Report) -> dict[tuple[str, str], int]:
        return {(d.item_id, d.where): n.number for n in render(source, r).lines for d in n.deductions}

    assert lines(old) == lines(report) and len(lines(report)) == len(MUTATION_LINES[name])


def test_a_place_says_what_the_where_text_could_not() -> None:
    """Q1 read off the model's own blocks (`model.layer[1]`) is unit 1 of the student's block,
    and the equivalence guard's `forward` on Q2 is the model's forward, not a block's."""
    unit = Place(scope="block", attr="layer", index=1)
    assert locate(REFERENCE, "q1_downsample", "model.layer[1]", unit) == locate(REFERENCE, "q1_downsample", "layer[1]")
    assert "self.layer = nn.Sequential(" in line_of(REFERENCE, locate(REFERENCE, "q1_downsample", "model.layer[1]"))
    model_forward = locate(REFERENCE, "q2_blanks", "forward", Place(scope="model", forward=True))
    block_forward = locate(REFERENCE, "q2_blanks", "forward")
    assert model_forward != block_forward
    model_class = first_line(REFERENCE, "class ResNet50_layer4")
    assert "def forward" in line_of(REFERENCE, model_forward) and model_forward > model_class > block_forward

@pytest.mark.parametrize("name", sorted(MUTATION_LINES))
def test_mutation_deductions_are_at_the_changed_line(name: str) -> None:
    mutation = MUTATIONS[name]
    source = mutation.apply()
    report = judged(source)
    found = deductions(report)
    assert set(found) == set(MUTATION_LINES[name])  # the judge's own where strings
    lost = {i.id: i.max_points - i.points for i in report.items if i.points < i.max_points}
    assert lost == mutation.lost  # the facts here grade as the engine's tests say
    for (item_id, where), text in MUTATION_LINES[name].items():
        n = locate(source, item_id, where)
        assert text in line_of(source, n), (item_id, where)
        if item_id.startswith("q1_"):  # in the branch the item grades (of __init__ or forward)
            pivot = first_line(source, "if x.size() is not" if where == "forward" else "self.downsize")
            assert (n < pivot) == (item_id == "q1_downsample"), (item_id, where, n)
    view = render(source, report)
    assert not view.unplaced and view.parsed
    placed = {(d.item_id, d.where) for line in view.lines for d in line.deductions}
    assert placed == set(MUTATION_LINES[name])


# ---------------------------------------------------------------- students' variations

SPREAD_MODEL = '''

class ResNet50_layer4(Module):
    def __init__(
        self,
        num_classes=10,
    ):
        super().__init__()
        self.layer1 = Sequential(*[
            Conv2d(
                in_channels=3,
                out_channels=64,
                kernel_size=7,
                stride=1,
                padding=3,
            ),
            BatchNorm2d(64),
            ReLU(inplace=True),
            MaxPool2d(
                kernel_size=3,
                stride=2,
                padding=1,
            ),
        ])
        blocks = [
            ResidualBlock(
                in_channels=64,
                middle_channels=64,
                out_channels=256,
                downsample=False,
            ),
        ]
        blocks.append(ResidualBlock(
            in_channels=256,
            middle_channels=64,
            out_channels=256,
            downsample=True,
        ))
        blocks += [ResidualBlock(
            in_channels=256,
            middle_channels=64,
            out_channels=256,
            downsample=True,
        )]
        self.layer2 = Sequential(*blocks)
        self.layer3 = Sequential(*[ResidualBlock(256 if i == 0 else 512, 128, 512, i == 3) for i in range(4)])
        layer4 = []
        for i in range(6):
            layer4.append(ResidualBlock(512 if i == 0 else 1024, 256, 1024, False))
        self.layer4 = Sequential(*layer4)
        self.fc = Linear(
            in_features=512,
            out_features=num_classes,
        )
        self.avgpool = AvgPool2d(
            kernel_size=4,
            stride=2,
        )

    def forward(self, x):
        out = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(out).view(out.size(0), -1))
'''


def spread_variant() -> str:
    """The reference's blocks, and a model written one argument per line with bare names."""
    head = REFERENCE[: REFERENCE.index("class ResNet50_layer4")]
    imports = "from torch.nn import (AvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, ReLU,\n" \
              "                      Sequential)\n"
    return imports + head + SPREAD_MODEL.lstrip("\n")


def test_keywords_one_per_line_each_blank_on_its_own_line() -> None:
    source = spread_variant()
    report = judged(source)
    # Four mistakes, the judge's where strings: each at the line of its keyword.
    wrong = {"layer1.conv.stride": "stride=1", "layer2.1.downsample": "downsample=True",
             "fc.in_features": "in_features=512", "avgpool.kernel_size": "kernel_size=4"}
    assert set(deductions(report)) == {("q2_blanks", w) for w in wrong}
    for where, text in wrong.items():
        assert line_of(source, locate(source, "q2_blanks", where)).strip() == text + ","
    # Every blank on a line of its own, naming its parameter (or the value for fc's 2nd).
    blanks = [b.id for b in load_rubric().q2_blanks.blanks]
    lines = {b: locate(source, "q2_blanks", b) for b in blanks}
    assert len(set(lines.values())) == len(blanks)
    for blank, n in lines.items():
        param = "num_classes" if blank == "num_classes" else blank.rsplit(".", 1)[1]
        assert line_of(source, n).strip().startswith(param + "="), blank
    # A comprehension or a loop has no element to point at: the Sequential's line.
    assert "self.layer3 = Sequential(*[" in line_of(source, locate(source, "q2_layer3", "layer3.2"))
    assert "self.layer4 = Sequential(*layer4)" in line_of(source, locate(source, "q2_layer4", "layer4.1"))
    view = render(source, report)
    assert sum(len(line.deductions) for line in view.lines) == 4 and not view.unplaced


FLAT_BLOCK = '''import torch
import torch.nn as nn


class ResidualBlock(nn.Module):
    def __init__(self, cin, mid, cout, down=False):
        super().__init__()
        self.downsample = down
        if not down:
            self.layer = nn.Sequential(
                nn.Conv2d(cin, mid, kernel_size=1, stride=1, padding=0),
                nn.BatchNorm2d(mid),
                nn.ReLU(inplace=True),
                nn.Conv2d(mid, mid, kernel_size=3, stride=1, padding=1),
                nn.BatchNorm2d(mid),
                nn.ReLU(inplace=True),
                nn.Conv2d(mid, cout, kernel_size=1, stride=1, padding=0),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )
            self.make_equal_channel = nn.Sequential(nn.Conv2d(cin, cout, 1, 1, 0), nn.BatchNorm2d(cout),
                                                    nn.ReLU(inplace=True))
        else:
            units = [nn.Conv2d(cin, mid, kernel_size=1, stride=1, padding=0), nn.BatchNorm2d(mid),
                     nn.ReLU(inplace=True)]
            units += [nn.Conv2d(mid, mid, kernel_size=3, stride=2, padding=1),
                      nn.BatchNorm2d(mid), nn.ReLU(inplace=True)]
            units.append(nn.Conv2d(mid, cout, kernel_size=1, stride=1, padding=0))
            units.extend([nn.BatchNorm2d(cout), nn.ReLU(inplace=True)])
            self.layer = nn.Sequential(*units)
            self.downsize = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, 0), nn.BatchNorm2d(cout),
                                          nn.ReLU(inplace=True))

    def forward(self, x):
        if self.downsample:
            return self.layer(x) + self.downsize(x)
        out = self.layer(x)
        if x.size() is not out.size():
            x = self.make_equal_channel(x)
        return out + x


'''


def test_flat_block_with_negated_branch_and_a_built_list() -> None:
    source = FLAT_BLOCK + REFERENCE[REFERENCE.index("#####\n# Question 2"):]
    report = judged(source)
    found = deductions(report)
    # The stride on the 3×3 conv, written as a list grown line by line in the `else` branch.
    assert ("q1_downsample", "layer[0]") in found and ("q1_downsample", "layer[1]") in found
    assert "kernel_size=1, stride=1" in line_of(source, locate(source, "q1_downsample", "layer[0]"))
    assert "kernel_size=3, stride=2" in line_of(source, locate(source, "q1_downsample", "layer[1]"))
    assert "nn.Conv2d(mid, cout, kernel_size=1" in line_of(source, locate(source, "q1_downsample", "layer[2]"))
    # Flat Conv/BN/ReLU: unit 1 is the second Conv2d, in the `if not down:` branch.
    assert "nn.Conv2d(mid, mid, kernel_size=3, stride=1" in line_of(source, locate(source, "q1_no_downsample", "layer[1]"))
    # Renamed parameters change the state_dict names: the judge flags the forward, at its return.
    assert found.get(("q1_no_downsample", "forward")) is not None
    assert line_of(source, locate(source, "q1_no_downsample", "forward")).strip() == "return out + x"
    assert "self.downsize(x)" in line_of(source, locate(source, "q1_downsample", "forward"))
    # The model's blanks still read ResidualBlock's arguments by position.
    assert "ResidualBlock(256, 64, 256, True)" in line_of(source, locate(source, "q2_blanks", "layer2.2.downsample"))


def test_keyword_names_follow_the_students_parameters() -> None:
    source = FLAT_BLOCK + REFERENCE[REFERENCE.index("#####\n# Question 2"):].replace(
        "ResidualBlock(256, 64, 256, False),", "ResidualBlock(256, 64,\n                          cout=256, down=False),", 1)
    assert line_of(source, locate(source, "q2_blanks", "layer2.1.downsample")).strip() == "cout=256, down=False),"
    assert line_of(source, locate(source, "q2_blanks", "layer2.1.in_channels")).strip().startswith("ResidualBlock(256, 64,")


# ---------------------------------------------------------------- files that do not parse, or attack

@pytest.mark.parametrize("source", ["def broken(:\n    pass\n", "x = 1\x00\n", "(" * 500 + ")" * 500 + "\n", ""])
def test_unparsable_source_places_nothing_and_still_renders(source: str) -> None:
    report = hand_report(("q2_blanks", "layer1.conv.stride"), ("q1_downsample", "layer[0]"), ("accuracy", "accuracy"))
    assert locate(source, "q2_blanks", "layer1.conv.stride") is None
    view = render(source, report)
    assert not view.parsed or source == ""
    assert len(view.unplaced) == 3 and all(d.line is None for d in view.unplaced)
    assert len(view.lines) == len(source.splitlines())
    assert "\x00" not in view.to_html()


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", fragment))


HOSTILE = '''import torch.nn as nn
# </pre></code><script>alert("comment")</script>
NOTE = "</div><img src=x onerror=alert(1)>"
DOC = """
</code></pre><script>alert('string')</script>
<!-- <a href="javascript:alert(1)"> -->
"""
TROJAN = "admin\u202e\u2066"  # bidi controls


class ResNet50_layer4(nn.Module):
    def __init__(self, num_classes="<script>x</script>"):
        super().__init__()
        self.fc = nn.Linear(1024, num_classes)
'''


def test_hostile_code_stays_inert() -> None:
    report = hand_report(("q2_blanks", "num_classes"), ("q2_blanks", "fc.in_features"))
    report.items[0].deductions[0].message = "you wrote '<script>alert(2)</script>'"
    view = render(HOSTILE, report)
    page = view.to_html()
    for bad in ("<script", "<img", "</pre>", "</code></pre>", "<!--", "<a href=\"javascript"):
        assert bad not in page, bad
    assert "&lt;script&gt;" in page and "\u202e" not in page and view.replaced_chars == 2
    # Each shown line reads back as the source line (bidi controls shown as U+FFFD).
    shown = [_text(line.html) for line in view.lines]
    assert shown == HOSTILE.replace("\u202e", "\ufffd").replace("\u2066", "\ufffd").split("\n")[:-1]
    n = locate(HOSTILE, "q2_blanks", "num_classes")
    assert 'num_classes="<script>' in line_of(HOSTILE, n)
    assert f'id="L{n}"' in page and view.lines[n - 1].deductions[0].where == "num_classes"


def test_reference_lines_read_back_exactly() -> None:
    view = render(REFERENCE + "\n\n", report_of([], REFERENCE))
    assert [_text(line.html) for line in view.lines] == REFERENCE.split("\n")[:-1] + ["", ""]
    assert view.total_lines == len(view.lines) and not view.truncated
    assert css() and all(rule.startswith(".codeview ") for rule in css().splitlines())


def test_windows_line_ends_count_like_python() -> None:
    source = REFERENCE.replace("\n", "\r\n")
    n = locate(source, "q2_blanks", "layer1.maxpool.stride")
    assert n == locate(REFERENCE, "q2_blanks", "layer1.maxpool.stride")
    assert len(render(source, report_of([], source)).lines) == len(REFERENCE.splitlines())


def test_long_files_are_capped_and_late_deductions_unplaced() -> None:
    source = "# padding\n" * MAX_LINES + REFERENCE
    report = hand_report(("q2_blanks", "layer1.conv.stride"))
    assert locate(source, "q2_blanks", "layer1.conv.stride") == MAX_LINES + locate(REFERENCE, "q2_blanks", "layer1.conv.stride")
    view = render(source, report)
    assert view.truncated and len(view.lines) == MAX_LINES and view.total_lines > MAX_LINES
    assert [d.line for d in view.unplaced] == [locate(source, "q2_blanks", "layer1.conv.stride")]
    huge = "x = 1\n" + "#" * (300 << 10) + "\n"
    assert locate(huge, "q2_blanks", "num_classes") is None
    assert render(huge, report).truncated


ONE_SEQUENTIAL = '''import collections
import torch.nn as nn


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, middle_channels, out_channels, downsample=False):
        super().__init__()
        self.downsample = downsample
        stride = 2 if downsample else 1
        self.layer = nn.Sequential(collections.OrderedDict([
            ("reduce", conv1x1(in_channels, middle_channels, stride, 0)),
            ("conv", conv3x3(middle_channels, middle_channels, 1, 1)),
            ("expand", conv1x1(middle_channels, out_channels, 1, 0)),
        ]))
        if self.downsample == False:
            self.make_equal_channel = conv1x1(in_channels, out_channels, 1, 0)
        else:
            self.downsize = conv1x1(in_channels, out_channels, 2, 0)

    def forward(self, x):
        shortcut = self.make_equal_channel(x) if not self.downsample else self.downsize(x)
        return self.layer(x) + shortcut
'''


def test_one_sequential_for_both_branches_and_an_ordered_dict() -> None:
    for item_id in ("q1_downsample", "q1_no_downsample"):
        assert '("conv", conv3x3(' in line_of(ONE_SEQUENTIAL, locate(ONE_SEQUENTIAL, item_id, "layer[1]"))
        assert '("expand", conv1x1(' in line_of(ONE_SEQUENTIAL, locate(ONE_SEQUENTIAL, item_id, "layer[2]"))
        assert "return self.layer(x) + shortcut" in line_of(ONE_SEQUENTIAL, locate(ONE_SEQUENTIAL, item_id, "forward"))
    # No ResNet50_layer4 at all: its deductions have nowhere to go.
    assert locate(ONE_SEQUENTIAL, "q2_blanks", "fc.in_features") is None
    assert locate(ONE_SEQUENTIAL, "q2_layer3", "layer3.count") is None
