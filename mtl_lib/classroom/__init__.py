"""Classroom assignments: one source, a generated student release, an autograder.

The course is its own answer key. The code students must write sits in the
``mtl_lib`` modules and in notebook cells between the comment lines
``### BEGIN SOLUTION`` and ``### END SOLUTION``; optional lines
``### HINT: ...`` right after BEGIN become the hint shown in the stub.

Three commands (``python -m mtl_lib.classroom COMMAND``, see ``docs/instructors.md``):

* ``release --out DIR`` - a student copy: every solution block replaced by a
  stub that raises ``NotImplementedError`` with the hint, notebook outputs
  cleared, the hidden grading tests left out (``stubs``, ``release``);
* ``grade PATH`` - runs the hidden tests (``tests/grading``) on a student's
  copy and writes a score table (``grade``);
* ``check`` - proves the release is sound: the reference passes every grading
  test, every stub fails its tests, stubs keep signatures and docstrings (``check``).

``EXERCISES`` below is the one table that ties these together: which function
holds each graded exercise, which notebook teaches it, and its points. The
grading tests of exercise ``NAME`` live in ``tests/grading/test_NAME.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the course checkout this package belongs to
GRADING_DIR = "tests/grading"


class ClassroomError(Exception):
    """A problem the instructor must fix (bad markers, a wrong path): the message says what and where."""


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: a solution block inside ``function`` of ``file``."""

    name: str  # also the grading test file: tests/grading/test_<name>.py
    file: str  # relative to the repository root
    function: str  # qualified name of the function holding the solution block
    notebook: str  # the notebook that teaches it (named in the stub's hint)
    points: float

    @property
    def test_file(self) -> str:
        return f"{GRADING_DIR}/test_{self.name}.py"


EXERCISES = [
    Exercise("scaled_dot_product_attention", "mtl_lib/attention.py", "scaled_dot_product_attention",
             "01_attention", 2),
    Exercise("multi_head_attention", "mtl_lib/attention.py", "MultiHeadSelfAttention.forward",
             "01_attention", 2),
    Exercise("encoder_layer", "mtl_lib/bert.py", "BertLayer.forward", "02_minbert", 2),
    Exercise("pooling", "mtl_lib/encode.py", "pool", "02_minbert", 1),
    Exercise("cosine_sts_head", "mtl_lib/model.py", "MultitaskBert.head", "05_cosine_sts", 1),
    Exercise("pcgrad", "mtl_lib/pcgrad.py", "combination_coefficients", "06_pcgrad", 2),
    Exercise("symmetric_kl", "mtl_lib/smart.py", "symmetric_kl", "07_smart", 1),
    Exercise("smart_regularizer", "mtl_lib/smart.py", "smart_regularizer", "07_smart", 2),
]


def exercise_at(file: str, function: str) -> Exercise | None:
    """The registered exercise whose solution block sits in ``function`` of ``file``, if any."""
    return next((e for e in EXERCISES if e.file == file and e.function == function), None)
