"""Test inputs written as edits of the reference solution, the way students produce them.

- `wrong_solution()`: a plausible but wrong submission (stride on the 3x3 conv, a halved
  shortcut, its own layer3/layer4 style, its own comments);
- `disguised_copy(src)`: what a copier does to it: renames every local name, re-indents,
  re-wraps calls, adds blank lines, keeps the comments;
- `correct_explicit()` / `correct_comprehension()`: two correct solutions written
  independently (different layer2-4 code, different forward, no shared comments);
- `online_solution()` and `from_online()`: last year's solution found online, and a
  submission made from it; `ONLINE_SOURCE`: an unrelated blog ResNet (a known source no one
  copied).
"""
from __future__ import annotations

import re

from grader.rubric import SOLUTION

REFERENCE = SOLUTION.read_text()

DISTINCTIVE_COMMENT = "# shrink the map inside the 3x3 so that the 1x1 keeps every pixel of the input"
MISTAKE_LINE = "return out + 0.5 * x"

_LAYER2 = """        self.layer2 = nn.Sequential(
            ResidualBlock(64, 64, 256, False),
            ResidualBlock(256, 64, 256, False),
            ResidualBlock(256, 64, 256, True),  # (B, 256, 4, 4)
        )
"""
_LAYER34 = """        self.layer3 = nn.Sequential(
            ResidualBlock(256, 128, 512, False),
            ResidualBlock(512, 128, 512, False),
            ResidualBlock(512, 128, 512, False),
            ResidualBlock(512, 128, 512, True),  # (B, 512, 2, 2)
        )
        self.layer4 = nn.Sequential(
            ResidualBlock(512, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),  # (B, 1024, 2, 2)
        )
"""
_NET_FORWARD = """    def forward(self, x):
        out = self.layer1(x)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = self.avgpool(out)
        out = out.view(out.size(0), -1)
        out = self.fc(out)
        return out
"""
_BLOCK_FORWARD = """    def forward(self, x):
        if self.downsample:
            out = self.layer(x)
            x = self.downsize(x)
            return out + x
        else:
            out = self.layer(x)
            # `is not` compares identity, so this is always true: the checkpoint was trained so.
            if x.size() is not out.size():
                x = self.make_equal_channel(x)
            return out + x
"""


def edit(source: str, old: str, new: str) -> str:
    """`source` with its one occurrence of `old` replaced (fails loudly if the reference moved)."""
    assert source.count(old) == 1, f"edit does not apply once: {old[:60]!r}"
    return source.replace(old, new)


def wrong_solution() -> str:
    src = edit(REFERENCE, "conv1x1(in_channels, middle_channels, 2, 0),\n                conv3x3(middle_channels, middle_channels, 1, 1),",
               f"{DISTINCTIVE_COMMENT}\n"
               "                conv1x1(in_channels, middle_channels, 1, 0),\n"
               "                conv3x3(middle_channels, middle_channels, 2, 1),")
    src = edit(src, _BLOCK_FORWARD, f"""    def forward(self, x):
        if self.downsample:
            out = self.layer(x)
            x = self.downsize(x)
            # halve the shortcut, otherwise the sum doubles at every block and training blows up
            {MISTAKE_LINE}
        else:
            out = self.layer(x)
            if x.size() is not out.size():
                x = self.make_equal_channel(x)
            return out + x
""")
    return edit(src, _LAYER34, """        stage3 = [ResidualBlock(256, 128, 512, False)]
        # three more bottlenecks at 512 wide, only the very last one halves the picture
        for idx in range(3):
            stage3.append(ResidualBlock(512, 128, 512, idx == 2))
        self.layer3 = nn.Sequential(*stage3)
        # layer4 never downsamples: by now the feature map is only two by two pixels
        first4 = ResidualBlock(512, 256, 1024, False)
        rest4 = [ResidualBlock(1024, 256, 1024, False) for idx in range(5)]
        self.layer4 = nn.Sequential(first4, *rest4)
""")


_COPY_NAMES = {"x": "inp", "out": "y", "in_channels": "c_in", "middle_channels": "c_mid",
               "out_channels": "c_out", "stage3": "blocks", "idx": "j",
               "first4": "head4", "rest4": "tail4", "m": "mod", "num_classes": "n_cls"}


def rename(source: str, names: dict[str, str]) -> str:
    """Renames whole words in the code part of each line, leaving comments as they are."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    out = []
    for line in source.split("\n"):
        code, hash_, comment = line.partition("#")
        out.append(pattern.sub(lambda m: names[m.group(1)], code) + hash_ + comment)
    return "\n".join(out)


def reindent(source: str, width: int = 2) -> str:
    """Four-space indentation becomes `width` spaces."""
    out = []
    for line in source.split("\n"):
        stripped = line.lstrip(" ")
        out.append(" " * ((len(line) - len(stripped)) // 4 * width) + stripped)
    return "\n".join(out)


def join_calls(source: str) -> str:
    """Joins every multi-line bracketed call without comments onto one line, trailing comma dropped."""
    lines, out, i = source.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        depth = line.count("(") - line.count(")")
        j = i
        while depth > 0 and "#" not in line and j + 1 < len(lines) and "#" not in lines[j + 1]:
            j += 1
            line = line + " " + lines[j].strip()
            depth += lines[j].count("(") - lines[j].count(")")
        if depth == 0 and j > i:
            out.append(line.replace(", )", ")").replace("( ", "("))
            i = j + 1
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


def disguised_copy(source: str) -> str:
    """Renamed, re-indented, re-wrapped, with blank lines added; comments kept word for word."""
    src = join_calls(rename(source, _COPY_NAMES))
    src = src.replace("\n    def ", "\n\n    def ").replace(":\n", ":\n\n", 3)
    return "# my own work\n" + reindent(src, 2)


def correct_explicit() -> str:
    """Correct: every block written out with keyword arguments; forward as one expression."""
    src = edit(REFERENCE, "super(ResNet50_layer4, self).__init__()", "super().__init__()")
    src = edit(src, _LAYER2, """        self.layer2 = nn.Sequential(
            ResidualBlock(in_channels=64, middle_channels=64, out_channels=256, downsample=False),
            ResidualBlock(in_channels=256, middle_channels=64, out_channels=256, downsample=False),
            ResidualBlock(in_channels=256, middle_channels=64, out_channels=256, downsample=True),
        )
""")
    src = edit(src, _LAYER34, """        self.layer3 = nn.Sequential(
            ResidualBlock(in_channels=256, middle_channels=128, out_channels=512, downsample=False),
            ResidualBlock(in_channels=512, middle_channels=128, out_channels=512, downsample=False),
            ResidualBlock(in_channels=512, middle_channels=128, out_channels=512, downsample=False),
            ResidualBlock(in_channels=512, middle_channels=128, out_channels=512, downsample=True),
        )
        self.layer4 = nn.Sequential(
            ResidualBlock(in_channels=512, middle_channels=256, out_channels=1024, downsample=False),
            ResidualBlock(in_channels=1024, middle_channels=256, out_channels=1024, downsample=False),
            ResidualBlock(in_channels=1024, middle_channels=256, out_channels=1024, downsample=False),
            ResidualBlock(in_channels=1024, middle_channels=256, out_channels=1024, downsample=False),
            ResidualBlock(in_channels=1024, middle_channels=256, out_channels=1024, downsample=False),
            ResidualBlock(in_channels=1024, middle_channels=256, out_channels=1024, downsample=False),
        )
""")
    return edit(src, _NET_FORWARD, """    def forward(self, x):
        features = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        pooled = self.avgpool(features)
        return self.fc(torch.flatten(pooled, 1))
""")


def correct_comprehension() -> str:
    """Correct: repeated blocks built with comprehensions and `*`; forward as a loop."""
    src = edit(REFERENCE, _BLOCK_FORWARD, """    def forward(self, x):
        out = self.layer(x)
        if self.downsample:
            shortcut = self.downsize(x)
        else:
            shortcut = self.make_equal_channel(x) if x.size() is not out.size() else x
        return out + shortcut
""")
    src = edit(src, _LAYER2, """        self.layer2 = nn.Sequential(ResidualBlock(64, 64, 256, False),
                                    ResidualBlock(256, 64, 256, False),
                                    ResidualBlock(256, 64, 256, True))
""")
    src = edit(src, _LAYER34, """        blocks3 = [ResidualBlock(256, 128, 512, False)]
        blocks3 += [ResidualBlock(512, 128, 512, False) for _ in range(2)]
        blocks3.append(ResidualBlock(512, 128, 512, True))
        self.layer3 = nn.Sequential(*blocks3)
        self.layer4 = nn.Sequential(ResidualBlock(512, 256, 1024, False),
                                    *(ResidualBlock(1024, 256, 1024, False) for _ in range(5)))
""")
    return edit(src, _NET_FORWARD, """    def forward(self, x):
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        x = self.avgpool(x)
        return self.fc(x.reshape(x.shape[0], -1))
""")


ONLINE_SOURCE = '''"""ResNet-50 for CIFAR-10 in PyTorch, from my blog post (MIT licence)."""
import torch
import torch.nn as nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        # squeeze with a 1x1, look around with a 3x3, then expand back with a 1x1
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, self.expansion * planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(self.expansion * planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            # projection shortcut whenever the shapes disagree (option B of the paper)
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion * planes),
            )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += self.shortcut(x)
        return torch.relu(out)


def make_stage(in_planes, planes, num_blocks, stride):
    # only the first block of a stage changes the resolution, the others keep it
    strides = [stride] + [1] * (num_blocks - 1)
    layers = []
    for s in strides:
        layers.append(Bottleneck(in_planes, planes, s))
        in_planes = planes * Bottleneck.expansion
    return nn.Sequential(*layers), in_planes
'''


def online_solution() -> str:
    """Last year's solution of this assignment, as a TA found it on a public repository."""
    src = edit(REFERENCE, _BLOCK_FORWARD, """    def forward(self, x):
        identity = x  # keep the input around for the skip connection
        out = self.layer(x)
        if self.downsample:
            identity = self.downsize(x)
        elif x.size() is not out.size():
            identity = self.make_equal_channel(x)
        return out + identity
""")
    src = edit(src, "#####\n# Question 2", """def make_stage(first_in, mid, out, count, shrink_at_end):
    # a stage is `count` bottlenecks; only its last one may halve the resolution
    stage = [ResidualBlock(first_in, mid, out, False)]
    for n in range(1, count):
        stage.append(ResidualBlock(out, mid, out, shrink_at_end and n == count - 1))
    return nn.Sequential(*stage)


#####
# Question 2""")
    src = edit(src, _LAYER2 + _LAYER34, """        self.layer2 = make_stage(64, 64, 256, 3, True)  # 8x8 -> 4x4
        self.layer3 = make_stage(256, 128, 512, 4, True)  # 4x4 -> 2x2
        self.layer4 = make_stage(512, 256, 1024, 6, False)  # stays 2x2
""")
    return edit(src, _NET_FORWARD, """    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
""")


def from_online() -> str:
    """A submission made from `online_solution()`: disguised like a friend's copy."""
    src = rename(online_solution(), {"first_in": "c0", "mid": "width", "count": "reps", "shrink_at_end": "halve",
                                     "stage": "mods", "identity": "skip"})
    return disguised_copy(src)
