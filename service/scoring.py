"""The assignment's scale as the service shows it: one maximum score, and whether accuracy is measured.

A report's own max_score is the structure items plus the accuracy item when that grade
fine-tuned, the structure items alone otherwise (grader.engine sums the rubric the same
way). The service decides once, from its settings, whether it fine-tunes, and shows every
score out of that one maximum, so a student's history does not switch between 105 and 115;
when accuracy is not measured, the page and `serve`'s first line say why.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from grader.rubric import load_rubric
from grader.settings import Settings

STRUCTURE_ITEMS = ("q1_downsample", "q1_no_downsample", "q2_blanks", "q2_layer3", "q2_layer4")


@dataclass(frozen=True)
class Scale:
    structure_points: float
    accuracy_points: float
    why_no_accuracy: str | None  # None: this service fine-tunes and measures accuracy; words for students
    setting: str = ""  # the operator's detail (which environment variable), for serve's line and the TA pages

    @property
    def measures_accuracy(self) -> bool:
        return self.why_no_accuracy is None

    @property
    def max_score(self) -> float:
        return self.structure_points + (self.accuracy_points if self.measures_accuracy else 0.0)


def scale(settings: Settings) -> Scale:
    return _scale(settings.rubric, settings.skip_training, settings.data_dir)


@lru_cache(maxsize=8)
def _scale(rubric_path: Path | None, skip_training: bool, data_dir: Path | None) -> Scale:
    rubric = load_rubric(rubric_path)
    structure = sum(getattr(rubric, item).points for item in STRUCTURE_ITEMS)
    # Students read `why` (no variable names, no paths); the TA and serve's first line also read `setting`.
    why, setting = None, ""
    if skip_training:
        why, setting = "this server grades the structure only", "AUTOGRADER_SKIP_TRAINING is set"
    elif data_dir is None:
        why, setting = "this server has no CIFAR-10 data to fine-tune on", "AUTOGRADER_DATA_DIR is not set"
    elif not Path(data_dir).is_dir():
        why = "this server's CIFAR-10 data is missing"
        setting = f"the CIFAR-10 folder {data_dir} (AUTOGRADER_DATA_DIR) does not exist"
    return Scale(structure_points=structure, accuracy_points=rubric.accuracy.points, why_no_accuracy=why,
                 setting=setting)
