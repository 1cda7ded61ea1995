"""Known mistakes from real submissions, written as edits of the reference solution.

Each mutation lists (old, new, count) text replacements and the points each rubric item
must lose; items not listed must keep full points.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from grader.rubric import SOLUTION

LAYER3 = """            ResidualBlock(256, 128, 512, False),
            ResidualBlock(512, 128, 512, False),
            ResidualBlock(512, 128, 512, False),
            ResidualBlock(512, 128, 512, True),  # (B, 512, 2, 2)"""


@dataclass(frozen=True)
class Mutation:
    edits: list[tuple[str, str, int]]
    lost: dict[str, float] = field(default_factory=dict)
    alternatives: int = 0

    def apply(self) -> str:
        source = SOLUTION.read_text()
        for old, new, count in self.edits:
            assert source.count(old) >= count, f"mutation does not apply: {old!r}"
            source = source.replace(old, new, count)
        return source


MUTATIONS: dict[str, Mutation] = {
    # The stride moves from the first 1×1 conv to the 3×3 conv of the downsampling block.
    "stride_on_3x3": Mutation(
        edits=[("conv1x1(in_channels, middle_channels, 2, 0),\n                conv3x3(middle_channels, middle_channels, 1, 1)",
                "conv1x1(in_channels, middle_channels, 1, 0),\n                conv3x3(middle_channels, middle_channels, 2, 1)", 1)],
        lost={"q1_downsample": 10}),
    # layer1 reaches 8×8 with conv padding 5 and no maxpool padding: runs, other function.
    "layer1_padding_5_0": Mutation(
        edits=[("nn.Conv2d(3, 64, 7, 2, 3)", "nn.Conv2d(3, 64, 7, 2, 5)", 1),
               ("nn.MaxPool2d(3, 2, 1)", "nn.MaxPool2d(3, 2, 0)", 1)],
        lost={"q2_blanks": 2}),
    # padding 0 on the 3×3 conv: the addition then fails in forward.
    "padding0_on_3x3": Mutation(
        edits=[("conv3x3(middle_channels, middle_channels, 1, 1)", "conv3x3(middle_channels, middle_channels, 1, 0)", 2)],
        lost={"q1_downsample": 5, "q1_no_downsample": 5}),
    "missing_block_layer3": Mutation(
        edits=[("            ResidualBlock(512, 128, 512, False),\n            ResidualBlock(512, 128, 512, True)",
                "            ResidualBlock(512, 128, 512, True)", 1)],
        lost={"q2_layer3": 5}),
    "wrong_num_classes": Mutation(
        edits=[("def __init__(self, num_classes=10)", "def __init__(self, num_classes=100)", 1)],
        lost={"q2_blanks": 1}, alternatives=1),  # fc.out_features follows num_classes
    "downsample_first_layer3": Mutation(
        edits=[(LAYER3, """            ResidualBlock(256, 128, 512, True),
            ResidualBlock(512, 128, 512, False),
            ResidualBlock(512, 128, 512, False),
            ResidualBlock(512, 128, 512, False),""", 1)],
        lost={"q2_layer3": 5}),
    "relu_after_addition": Mutation(
        edits=[("return out + x", "return torch.relu(out + x)", 2)],
        lost={"q1_downsample": 5, "q1_no_downsample": 5}),
    # Half of the real submissions: same function on the 2×2 map, accepted by the rubric.
    "avgpool_stride_1": Mutation(
        edits=[("nn.AvgPool2d(2, 2)", "nn.AvgPool2d(2, 1)", 1)], alternatives=1),
}
