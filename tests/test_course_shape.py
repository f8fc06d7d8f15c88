"""The course's shape (issue 29: "A course, not a lab report"), read from the committed notebooks' JSON.

Nothing is executed: every check reads ``notebooks/NN_*.ipynb`` as committed, outputs included. Each
test is parametrized by notebook, so ``pytest tests/test_course_shape.py -k 06_`` checks one notebook.

* shape - cell 0 is the header (``# NN · Title``, ``**You will learn**`` with at most 5 bullets,
  ``**Time:**``, ``**Needs:**``); one of the first three cells starts ``**The result.**`` (at most three
  lines); one ``## Summary`` section of at most 5 one-line bullets; ``## Exercises`` is the last section
  (see ``exercises_last_problems`` for the exact rule) and each exercise has a title, a time
  (``(about N min)``, N <= 20, or ``(project)``) and a check; 03-09 have a ``## ... Verdict`` section
  with a code cell.
* words - at most 3,000 words of Markdown per notebook and 500 per cell (``len(re.findall(r"\\S+", text))``).
* phrases - no hardware, history or plan talk (``PHRASES``) in the Markdown or outputs of 00-09.
* budget - no code cell of 03-09 writes its own training sizes (``BUDGET_PATTERNS``): they come from
  ``mtl_lib.options.budget`` / ``budget_words`` / ``budget_scale``.
* vocabulary - orders are written ``sst→para→sts``; the MLP head is never "the linear head" except as
  the option (``--sts-head linear``, ``sts_head="linear"``) or "the paper's linear head"; SST classes
  are ``analysis.SST_CLASSES``, the paper's names only where the paper is named.
* clean outputs - no object reprs, machine paths, URL errors, long lines, frozen progress bars, and the
  Quora data warning only where a cell loads Quora's training file.
* exercises - no solution block in a cell that a "Your turn" section hands to the student.
* README - at most 200 lines, the same vocabulary.

The appendix (notebook 10) is held to the output, vocabulary, budget and solution rules only: it is
where the evidence, hardware and history the lessons drop are written down.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LESSONS = [p for p in NOTEBOOKS if int(p.name[:2]) <= 9]  # 00-09: the lessons
EXPERIMENTS = [p for p in LESSONS if int(p.name[:2]) >= 3]  # 03-09: a verdict table, one budget
README = REPO / "README.md"


def ids(paths):
    return [p.stem for p in paths]


# --- reading a notebook ---------------------------------------------------------------------------------
def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def text_of(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def source(cell: dict) -> str:
    return text_of(cell.get("source", ""))


def markdown_cells(nb: dict) -> list[tuple[int, str]]:
    return [(i, source(c)) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"]


def output_texts(cell: dict, html: bool = True) -> list[tuple[str, str]]:
    """(kind, text) of every text a code cell's outputs hold: ``stream:stdout``, ``text/plain``, ..."""
    texts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            texts.append((f"stream:{out.get('name', '')}", text_of(out.get("text"))))
        elif out["output_type"] == "error":
            texts.append(("error", "\n".join(out.get("traceback", [])) + f"\n{out.get('ename')}: {out.get('evalue')}"))
        else:
            for kind, value in out.get("data", {}).items():
                if kind in ("text/plain", "text/markdown", "text/latex") or (html and kind == "text/html"):
                    texts.append((kind, text_of(value)))
    return texts


def outputs(nb: dict, html: bool = True) -> list[tuple[int, str, str]]:
    """(cell index, kind, text) of every output text of the notebook."""
    return [(i, kind, text) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            for kind, text in output_texts(c, html)]


def words(text: str) -> int:
    return len(re.findall(r"\S+", text))


FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[tuple[str, bool]]:
    """(line, inside a code fence) for each line of Markdown: a ``# comment`` in a fence is no heading."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            lines.append((line, True))
            fenced = not fenced
            continue
        lines.append((line, fenced))
    return lines


def sections(nb: dict) -> list[dict]:
    """The notebook cut at its level-1 and level-2 headings (``#``, ``##``). A section holds its title,
    the cell of its heading, its Markdown lines after the heading as (cell index, line) up to the next
    such heading, and the code cells in between. Text before the first heading is no section."""
    found, current = [], None
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            if current is not None:
                current["code"].append(i)
            continue
        for line, fenced in prose_lines(source(cell)):
            m = None if fenced else HEADING.match(line)
            if m and len(m.group(1)) <= 2:
                current = {"title": m.group(2), "level": len(m.group(1)), "cell": i, "lines": [], "code": []}
                found.append(current)
            elif current is not None:
                current["lines"].append((i, line))
    return found


def titled(nb: dict, pattern: str) -> list[dict]:
    """The level-2 sections whose title is ``pattern`` (optionally numbered: ``## 7. Verdict``)."""
    rx = re.compile(rf"^(?:\d+\.\s*)?{pattern}$", re.I)
    return [s for s in sections(nb) if s["level"] == 2 and rx.match(s["title"].strip())]


def where(name: str, cell: int) -> str:
    return f"{name}[{cell}]"


# --- shape ------------------------------------------------------------------------------------------------
BULLET = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+\S")


def header_problems(name: str, nb: dict) -> list[str]:
    """Cell 0: ``# NN · Title``, ``**You will learn**`` (at most 5 bullets), ``**Time:**``, ``**Needs:**``."""
    cell = nb["cells"][0] if nb["cells"] else {"cell_type": "none", "source": ""}
    if cell["cell_type"] != "markdown":
        return [f"{where(name, 0)}: cell 0 must be the Markdown header"]
    text, number = source(cell), name[:2]
    lines = text.splitlines()
    problems = []
    if not lines or not lines[0].startswith(f"# {number} · "):
        problems.append(f"{where(name, 0)}: the header must start with '# {number} · Title' "
                        f"(found {lines[0][:60] if lines else ''!r})")
    learn = [n for n, line in enumerate(lines) if line.strip().startswith("**You will learn**")]
    if not learn:
        problems.append(f"{where(name, 0)}: no '**You will learn**' line")
    else:
        bullets = 0
        for line in lines[learn[0] + 1:]:
            if BULLET.match(line):
                bullets += 1
            elif line.strip() and not line.startswith((" ", "\t")):  # a wrapped bullet is indented
                break
        if not 1 <= bullets <= 5:
            problems.append(f"{where(name, 0)}: '**You will learn**' has {bullets} bullets (1 to 5)")
    for label in ("**Time:**", "**Needs:**"):
        if not any(line.strip().startswith(label) for line in lines):
            problems.append(f"{where(name, 0)}: no line starting {label!r}")
    return problems


def result_problems(name: str, nb: dict) -> list[str]:
    """One of the first three cells is Markdown starting ``**The result.**``, at most three lines long."""
    for i, cell in enumerate(nb["cells"][:3]):
        text = source(cell).strip()
        if cell["cell_type"] == "markdown" and text.startswith("**The result.**"):
            lines = [line for line in text.splitlines() if line.strip()]
            if len(lines) > 3:
                return [f"{where(name, i)}: '**The result.**' runs to {len(lines)} lines (at most 3)"]
            return []
    return [f"{name}: none of cells 0-2 is a Markdown cell starting '**The result.**'"]


def summary_problems(name: str, nb: dict) -> list[str]:
    """One ``## Summary`` section: at most 5 non-empty lines, each a bullet (one line per bullet)."""
    found = titled(nb, "Summary")
    if len(found) != 1:
        return [f"{name}: {len(found)} '## Summary' sections (exactly one)"]
    summary = found[0]
    lines = [(i, line) for i, line in summary["lines"] if line.strip()]
    problems = []
    if len(lines) > 5:
        problems.append(f"{where(name, summary['cell'])}: the Summary has {len(lines)} non-empty lines (at most 5)")
    loose = [line for _, line in lines if not BULLET.match(line)]
    if loose:
        problems.append(f"{where(name, summary['cell'])}: the Summary's lines must be bullets, one line each; "
                        f"not a bullet: {loose[0].strip()[:60]!r}")
    return problems


EXERCISE_START = re.compile(r"^(?:\d+\.\s+\S|###\s+\S)")  # a top-level numbered item or a ### title
TIME = re.compile(r"\(about (\d+) min(?:utes)?\)")
PROJECT = re.compile(r"\(project\)")
CHECK_TEXT = re.compile(r"\b(?:expected|check)\s*:|check_exercise\(", re.I)  # "Check: `assert ...`" counts
CHECK_CODE = re.compile(r"^\s*assert\b|check_exercise\(", re.M)


def exercises_last_problems(name: str, nb: dict) -> list[str]:
    """``## Exercises`` is the last section, and nothing after it but exercises.

    Exactly: one level-2 heading ``Exercises`` (optionally numbered); no ``#`` or ``##`` heading after it,
    in its cell or later; every Markdown cell after its cell starts (first non-empty line) an exercise,
    a numbered item ``1. ...`` or a ``### Title``; code cells after it are allowed (they belong to the
    exercise above them)."""
    found = titled(nb, "Exercises")
    if len(found) != 1:
        return [f"{name}: {len(found)} '## Exercises' sections (exactly one, the last)"]
    exercises, problems = found[0], []
    every = sections(nb)
    position = next(n for n, s in enumerate(every) if (s["cell"], s["title"]) == (exercises["cell"], exercises["title"]))
    for s in every[position + 1:]:
        problems.append(f"{where(name, s['cell'])}: '{'#' * s['level']} {s['title']}' comes after '## Exercises' "
                        "(Exercises must be the last section)")
    for i, cell in enumerate(nb["cells"][exercises["cell"] + 1:], start=exercises["cell"] + 1):
        if cell["cell_type"] != "markdown":
            continue
        first = next((line for line in source(cell).splitlines() if line.strip()), "")
        if not EXERCISE_START.match(first):
            problems.append(f"{where(name, i)}: a Markdown cell after '## Exercises' that starts no exercise "
                            f"(start it with '1. **Title.**' or '### Title'): {first.strip()[:60]!r}")
    return problems


def exercise_items(nb: dict) -> list[dict]:
    """The exercises of the Exercises section: each starts at a top-level numbered item or a ``###`` title
    (outside code fences) and runs to the next; it holds its Markdown text, the cell it starts in, and
    the code cells that follow it before the next exercise starts."""
    found = titled(nb, "Exercises")
    if not found:
        return []
    start = found[0]["cell"]
    items, current, in_section = [], None, False
    for i, cell in enumerate(nb["cells"][start:], start=start):
        if cell["cell_type"] != "markdown":
            if current is not None:
                current["code"].append(source(cell))
            continue
        for line, fenced in prose_lines(source(cell)):
            m = None if fenced else HEADING.match(line)
            if m and len(m.group(1)) <= 2:
                in_section = m.group(2).strip().lower().rstrip(".").endswith("exercises")
                current = None
                continue
            if not in_section:
                continue
            if not fenced and EXERCISE_START.match(line):
                current = {"cell": i, "title": line, "text": "", "code": []}
                items.append(current)
            if current is not None:
                current["text"] += line + "\n"
    return items


def exercise_time_problems(name: str, nb: dict) -> list[str]:
    """Each exercise has a title, and a time: ``(about N min)`` with N <= 20, or ``(project)``."""
    items = exercise_items(nb)
    if not items:
        return [f"{name}: no exercises found (write each as '1. **Title** (about N min). ...' or '### Title')"]
    problems = []
    for n, item in enumerate(items, 1):
        label = f"{where(name, item['cell'])}: exercise {n} ({item['title'].strip()[:50]!r})"
        if "**" not in item["title"] and not item["title"].startswith("###"):
            problems.append(f"{label} has no title (**Title.** or ### Title)")
        time = TIME.search(item["text"])
        if time is None and not PROJECT.search(item["text"]):
            problems.append(f"{label} has no '(about N min)' nor '(project)'")
        elif time is not None and int(time.group(1)) > 20:
            problems.append(f"{label} takes {time.group(1)} min (at most 20, or mark it '(project)')")
    return problems


def exercise_check_problems(name: str, nb: dict) -> list[str]:
    """Each timed exercise has a check: 'Expected: ...' (the range of its result), 'Check: ...' (what to
    assert) or ``check_exercise(...)`` in its text, or an ``assert`` / ``check_exercise`` in a code cell
    that follows it. Projects need none."""
    problems = []
    for n, item in enumerate(exercise_items(nb), 1):
        if PROJECT.search(item["text"]) and not TIME.search(item["text"]):
            continue
        if not (CHECK_TEXT.search(item["text"]) or any(CHECK_CODE.search(code) for code in item["code"])):
            problems.append(f"{where(name, item['cell'])}: exercise {n} ({item['title'].strip()[:50]!r}) has no "
                            "check (an assert cell below it, check_exercise(...), 'Check: ...' or 'Expected: ...' with a range)")
    return problems


def verdict_problems(name: str, nb: dict) -> list[str]:
    """03-09: a level-2 section whose title ends in 'Verdict' (``## Verdict``, ``## 7. Verdict``, or
    ``## 7. Table 3: the verdict``), holding at least one code cell."""
    found = [s for s in sections(nb) if s["level"] == 2 and re.search(r"\bverdict\b", s["title"], re.I)]
    if len(found) != 1:
        return [f"{name}: {len(found)} '## ... Verdict' sections (exactly one)"]
    if not found[0]["code"]:
        return [f"{where(name, found[0]['cell'])}: the Verdict section has no code cell (show_shipped(...))"]
    return []


# --- words ------------------------------------------------------------------------------------------------
MAX_WORDS, MAX_CELL_WORDS = 3000, 500


def word_problems(name: str, nb: dict) -> list[str]:
    cells = markdown_cells(nb)
    problems = [f"{where(name, i)}: {words(text)} words of Markdown in one cell (at most {MAX_CELL_WORDS})"
                for i, text in cells if words(text) > MAX_CELL_WORDS]
    total = sum(words(text) for _, text in cells)
    if total > MAX_WORDS:
        problems.insert(0, f"{name}: {total} words of Markdown (at most {MAX_WORDS})")
    return problems


# --- phrases: no hardware, history or plans in the lessons ----------------------------------------------
PHRASES = ["not reached", "a target the course set", "later version", "earlier version", "shared with other jobs",
           "other jobs", "EPYC", "before that fix", "was added later", "2-core", "two-core", "L3 cache",
           "this session", "we plan", "development machine", "Hardware of the runs", "H100"]


def phrase_problems(name: str, nb: dict, phrases=PHRASES) -> list[str]:
    rx = re.compile("|".join(re.escape(p) for p in phrases), re.I)
    found = [(i, "markdown", text) for i, text in markdown_cells(nb)] + outputs(nb)
    problems = []
    for i, kind, text in found:
        for m in rx.finditer(text):
            context = text[max(0, m.start() - 40):m.end() + 40].replace("\n", " ")
            problems.append(f"{where(name, i)} ({kind}): {m.group(0)!r} in ...{context}...")
    return problems


# --- budget: sizes come from mtl_lib.options, never from the notebook ------------------------------------
NUM = r"\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?"
BUDGET_PATTERNS = {
    # a train option with a literal value: "--max-examples", "512" in a list, or --lr 2e-4 in a command string
    "a train option with a literal": re.compile(
        rf"--(?:max-examples|dev-examples|batch-size|epochs|lr)(?:[\"']\s*,\s*[\"']|[ =])\s*{NUM}"),
    # max_examples=512 (not max_examples=2 * b["max_examples"]: a size derived from the budget)
    "a size keyword with a literal": re.compile(rf"\b(?:max_examples|dev_examples)\s*=\s*{NUM}(?![\d.]|\s*[*/])"),
    # lr=5e-5, LR = 2e-4, "lr": 2e-4, or a tuple assignment LR, LAMBDA = 1e-4, 5.0
    "a learning rate literal": re.compile(
        rf"\b(?:lr|LR)\s*=\s*{NUM}|[\"']lr[\"']\s*:\s*{NUM}|"
        rf"^[ \t]*(?:\w+[ \t]*,[ \t]*)*(?:lr|LR)(?:[ \t]*,[ \t]*\w+)+[ \t]*=[ \t]*\(?[ \t]*{NUM}", re.M),
    # N_TRAIN = 256, n_train, n_dev = 500, 400
    "a row-count constant": re.compile(rf"^[ \t]*(?:\w+[ \t]*,[ \t]*)*(?:N_TRAIN|N_DEV|N_FINAL|n_train|n_dev)"
                                       rf"(?:[ \t]*,[ \t]*\w+)*[ \t]*=[ \t]*\(?[ \t]*{NUM}", re.M),
    "a budget table": re.compile(r"\b[A-Z_]*BUDGETS?\s*=\s*\{"),
}
COMMENT = re.compile(r"#[^\n\"']*$", re.M)  # a trailing comment without quotes: a size named there sets nothing


def budget_hits(code: str) -> list[tuple[str, str]]:
    """(what, the matched text) for each place ``code`` sets a training size itself."""
    code = COMMENT.sub("", code)
    return [(what, m.group(0)) for what, rx in BUDGET_PATTERNS.items() for m in rx.finditer(code)]


def budget_problems(name: str, nb: dict) -> list[str]:
    return [f"{where(name, i)}: {what}: {text!r} (take sizes and lr from budget(ctx.scale) / budget_words / "
            "budget_scale)" for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            for what, text in budget_hits(source(c))]


# --- vocabulary ----------------------------------------------------------------------------------------------
ORDER = re.compile(r"\b(?:sst|para|sts)(?:\s*(?:>|->|=>)\s*|\s+→\s*|\s*→\s+)(?:sst|para|sts)\b")
LINEAR_HEAD = re.compile(r"\blinear (?:STS |sts )?heads?\b", re.I)
HEAD_OPTION = re.compile(r"--sts-head[ =]linear|sts_head\s*=\s*[\"']linear[\"']")
OTHER_CLASS_NAMES = re.compile(r"\b(?:somewhat|strongly)\s+(?:negative|positive)\b", re.I)


def order_hits(text: str) -> list[str]:
    return [m.group(0) for m in ORDER.finditer(text)]


def linear_head_hits(text: str) -> list[str]:
    """'linear head' / 'linear STS head' used as a name: allowed only as "the paper's linear (STS) head" or
    on a line that names the option (``--sts-head linear``, ``sts_head="linear"``)."""
    hits = []
    for line in text.splitlines():
        if HEAD_OPTION.search(line):
            continue
        for m in LINEAR_HEAD.finditer(line):
            if not re.search(r"paper['’]s\s+$", line[:m.start()]):
                hits.append(m.group(0))
    return hits


def class_name_hits(text: str) -> list[str]:
    """SST class names other than ``analysis.SST_CLASSES`` ('somewhat positive', ...) in a paragraph that
    does not say they are the paper's."""
    hits = []
    for paragraph in re.split(r"\n\s*\n", text):
        if "paper" in paragraph.lower():
            continue
        hits += [m.group(0) for m in OTHER_CLASS_NAMES.finditer(paragraph)]
    return hits


def vocabulary_problems(name: str, texts: list[tuple[int, str, str]], finder, rule: str) -> list[str]:
    return [f"{where(name, i)} ({kind}): {hit!r} ({rule})" for i, kind, text in texts for hit in finder(text)]


ORDER_RULE = "write an order as sst→para→sts: task codes, arrows, no spaces"
HEAD_RULE = ("the 3-layer head is the MLP head; 'linear' only as the option --sts-head linear / "
             "sts_head=\"linear\" or as \"the paper's linear head\"")
CLASS_RULE = "SST classes are very negative, negative, neutral, positive, very positive; say where a name is the paper's"


def prose(nb: dict) -> list[tuple[int, str, str]]:
    return [(i, "markdown", text) for i, text in markdown_cells(nb)]


# --- clean outputs ------------------------------------------------------------------------------------------
REPRS = [("a Styler object", re.compile(r"<pandas\.io\.formats\.style\.Styler")),
         ("a matplotlib object", re.compile(r"<matplotlib\.")),
         ("a bare Text(...) repr", re.compile(r"^\s*(?:\[)?Text\(.*\)\]?\s*$", re.M)),
         ("an object repr", re.compile(r"<[\w.]+ (?:object )?at 0x[0-9a-fA-F]+>"))]
MACHINE = ["urlopen error", "[Errno", "/work/", "../../shared", "shared/data/minbert", "/home/", "/tmp/", "/Users/",
           "/content/"]
MAX_LINE = 300
PROGRESS = re.compile(r"it/s\]|s/it\]|\d+%\|")
QUORA_WARNING = re.compile(r"DataWarning: quora|quora-train\.csv: skipped", re.I)
LOADS_QUORA = re.compile(r"\bload_all\(|\bload_frames\(|\bbudget_scale\(|\bload_task\(\s*(?![\"'](?:sst|sts)[\"'])|"
                         r"\btrain_or_load\(|\bload_or_train\(|\brun_command\(|quora", re.I)
DISCARDS_TRAIN = re.compile(r"\b_\s*,\s*\w+\s*=\s*load_frames\(")  # `_, dev = load_frames(...)` keeps no training rows


def repr_problems(name: str, nb: dict) -> list[str]:
    problems = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code":
            continue
        for out in c.get("outputs", []):
            data = out.get("data", {})
            plain = text_of(data.get("text/plain"))
            for what, rx in REPRS:
                if rx.search(plain):
                    problems.append(f"{where(name, i)}: {what} in an output: {rx.search(plain).group(0)[:80]!r}")
            if "<Figure size" in plain and "image/png" not in data and "image/svg+xml" not in data:
                problems.append(f"{where(name, i)}: a figure's repr without its image")
    return problems


def machine_problems(name: str, nb: dict) -> list[str]:
    return [f"{where(name, i)} ({kind}): {needle!r} in an output" for i, kind, text in outputs(nb)
            for needle in MACHINE if needle in text]


def long_line_problems(name: str, nb: dict) -> list[str]:
    problems = []
    for i, kind, text in outputs(nb, html=False):
        longest = max((len(line) for line in text.splitlines()), default=0)
        if longest > MAX_LINE:
            problems.append(f"{where(name, i)} ({kind}): an output line of {longest} characters (at most {MAX_LINE})")
    return problems


def progress_problems(name: str, nb: dict) -> list[str]:
    return [f"{where(name, i)} ({kind}): a progress bar frozen in the output: "
            f"{text[max(0, m.start() - 30):m.end() + 10].strip()!r}"
            for i, kind, text in outputs(nb, html=False) if kind.startswith("stream")
            for m in [PROGRESS.search(text) or re.search(r"\r(?!\n)", text)] if m]


def quora_warning_problems(name: str, nb: dict) -> list[str]:
    """The Quora DataWarning shows only under a cell whose code reads Quora's training file (a loader or a
    training run; ``_, dev = load_frames(...)`` keeps no training rows and does not count)."""
    problems = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code" or not any(QUORA_WARNING.search(t) for _, t in output_texts(c)):
            continue
        code = DISCARDS_TRAIN.sub("", source(c))
        if not LOADS_QUORA.search(code):
            problems.append(f"{where(name, i)}: the Quora data warning under a cell that does not load Quora's "
                            "training rows")
    return problems


# --- exercises: no solution in a student's cell --------------------------------------------------------------
def solution_problems(name: str, nb: dict) -> list[str]:
    """A code cell with '### BEGIN SOLUTION' whose nearest Markdown cell above says 'Your turn'."""
    problems, last_markdown = [], ""
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "markdown":
            last_markdown = source(c)
        elif "### BEGIN SOLUTION" in source(c) and re.search(r"your turn", last_markdown, re.I):
            problems.append(f"{where(name, i)}: a solution block in a 'Your turn' cell")
    return problems


def report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(problems)


# === the tests ================================================================================================
@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_header(path):
    problems = header_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_result_first(path):
    problems = result_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_summary(path):
    problems = summary_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_exercises_are_last(path):
    problems = exercises_last_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_each_exercise_has_a_title_and_a_time(path):
    problems = exercise_time_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_each_exercise_has_a_check(path):
    problems = exercise_check_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=ids(EXPERIMENTS))
def test_verdict_section(path):
    problems = verdict_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_word_limits(path):
    problems = word_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_no_hardware_history_or_plan_talk(path):
    problems = phrase_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if int(p.name[:2]) >= 3],
                         ids=ids([p for p in NOTEBOOKS if int(p.name[:2]) >= 3]))
def test_one_budget(path):
    problems = budget_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_orders_written_one_way(path):
    nb = load(path)
    problems = vocabulary_problems(path.stem, prose(nb) + outputs(nb), order_hits, ORDER_RULE)
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_head_names_in_prose(path):
    problems = vocabulary_problems(path.stem, prose(load(path)), linear_head_hits, HEAD_RULE)
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_head_names_in_outputs(path):
    problems = vocabulary_problems(path.stem, outputs(load(path), html=False), linear_head_hits, HEAD_RULE)
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_sst_class_names(path):
    problems = vocabulary_problems(path.stem, prose(load(path)), class_name_hits, CLASS_RULE)
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_object_reprs_in_outputs(path):
    problems = repr_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_machine_paths_or_url_errors_in_outputs(path):
    problems = machine_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_long_output_lines(path):
    problems = long_line_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_frozen_progress_bars(path):
    problems = progress_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_quora_warning_only_where_quora_is_loaded(path):
    problems = quora_warning_problems(path.stem, load(path))
    assert not problems, report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_solution_in_your_turn_cells(path):
    problems = solution_problems(path.stem, load(path))
    assert not problems, report(problems)


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines (at most 200; the evidence goes to docs/results.md)"


def test_readme_vocabulary():
    text = README.read_text(encoding="utf-8")
    texts = [(n, "README", line) for n, line in enumerate(text.splitlines(), 1)]
    problems = (vocabulary_problems("README.md line", texts, order_hits, ORDER_RULE)
                + vocabulary_problems("README.md line", texts, linear_head_hits, HEAD_RULE)
                + vocabulary_problems("README.md line", [(0, "README", text)], class_name_hits, CLASS_RULE))
    assert not problems, report(problems)


def test_readme_lists_every_notebook():
    text = README.read_text(encoding="utf-8")
    missing = [p.name for p in NOTEBOOKS if f"(notebooks/{p.name})" not in text]
    assert not missing, f"README.md's notebook table lacks {missing}"


def test_readme_times_are_the_budgets():
    """The notebook table's minutes: laptop as measured (``budgets.LAPTOP_MINUTES``), T4 as derived."""
    from mtl_lib import budgets

    rows = re.findall(r"^\| \[(\d\d)_\w+\]\(notebooks/[^|]*\|[^|]*\| ([^|]+) \| ([^|]+) \|$",
                      README.read_text(encoding="utf-8"), re.M)
    found = {number: (laptop.strip(), t4.strip()) for number, laptop, t4 in rows}
    expected = {number: (f"{minutes:g}", f"{budgets.derived_minutes(number):.1f}")
                for number, minutes in budgets.LAPTOP_MINUTES.items()}
    assert {k: found.get(k) for k in expected} == expected


# === the checks themselves, on small synthetic notebooks ===================================================
def md(text: str) -> dict:
    return {"cell_type": "markdown", "source": text, "metadata": {}}


def code(text: str, *outs: dict) -> dict:
    return {"cell_type": "code", "source": text, "metadata": {}, "outputs": list(outs), "execution_count": None}


def stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def result(plain: str, **more) -> dict:
    return {"output_type": "execute_result", "data": {"text/plain": plain, **more}, "metadata": {}, "execution_count": 1}


def notebook(*cells: dict) -> dict:
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


GOOD_HEADER = ("# 06 · PCGrad\n\n[badge](x)\n\nOne sentence.\n\n**You will learn**\n\n- one\n- two, a bullet that\n"
               "  wraps\n\n**Time:** about 2 minutes at laptop scale.\n**Needs:** notebooks 04 and 05.\n")


def test_check_header():
    assert header_problems("06_pcgrad", notebook(md(GOOD_HEADER))) == []
    assert len(header_problems("07_smart", notebook(md(GOOD_HEADER)))) == 1  # wrong number
    six = GOOD_HEADER.replace("- one\n", "- a\n- b\n- c\n- d\n- e\n")
    assert "has 6 bullets" in header_problems("06_pcgrad", notebook(md(six)))[0]
    assert len(header_problems("06_pcgrad", notebook(md(GOOD_HEADER.replace("**Needs:**", "Needs:"))))) == 1


def test_check_result_first():
    assert result_problems("x", notebook(md("# 00 · x"), md("**The result.** One.\nTwo.\nThree."))) == []
    assert result_problems("x", notebook(md("# 00 · x"), code("1"), md("**The result.** Yes."))) == []
    assert "4 lines" in result_problems("x", notebook(md("**The result.** 1\n2\n3\n4")))[0]
    assert "none of cells 0-2" in result_problems("x", notebook(md("a"), md("b"), md("c"), md("**The result.**")))[0]


def test_check_summary_and_exercises_last():
    good = notebook(md(GOOD_HEADER), md("## 1. Idea\n\ntext"), code("x = 1"),
                    md("## Summary\n\n- one\n- two\n\n## Exercises\n\nIntro line.\n\n"
                       "1. **Probe.** (about 10 min) Do it. Expected: 0.4 to 0.5.\n"
                       "2. **Big.** (project) Train everything.\n"
                       "5. **Inline.** (about 5 min) Do it. Check: `assert x > 0`."),
                    code("assert True"),
                    md("3. **Assert me.** (about 5 min) Run the cell below."), code("check_exercise('pooling')"),
                    md("### 4. Another title (about 20 min)\n\nText."), code("assert x == 1"))
    assert summary_problems("g", good) == [] and exercises_last_problems("g", good) == []
    assert exercise_time_problems("g", good) == [] and exercise_check_problems("g", good) == []
    assert [item["title"][:5] for item in exercise_items(good)] == ["1. **", "2. **", "5. **", "3. **", "### 4"]
    # 04 today: shipped-table cells after the Exercises
    after = notebook(*good["cells"], md("### Table 1: the shipped measurement over seeds\n\ntext"), code("show()"),
                     md("**What the table says.** words"), md("## 12. Verdict"))
    problems = exercises_last_problems("a", after)
    assert any("'## 12. Verdict' comes after" in p for p in problems)
    assert any("starts no exercise" in p and "What the table says" in p for p in problems)
    assert any("exercise 6" in p and "no '(about N min)'" in p for p in exercise_time_problems("a", after))
    # a fenced '# comment' is no heading; a long summary; a summary that is a paragraph
    fenced = notebook(md("## Summary\n\n- a\n- b\n- c\n- d\n- e\n- f\n\n## Exercises\n\n```bash\n# run this\n```\n"
                         "1. **T** (about 30 min) x"))
    assert exercises_last_problems("f", fenced) == []
    assert "6 non-empty lines" in summary_problems("f", fenced)[0]
    assert "takes 30 min" in exercise_time_problems("f", fenced)[0]
    assert "has no check" in exercise_check_problems("f", fenced)[0]
    assert "must be bullets" in summary_problems("p", notebook(md("## Summary\n\nA paragraph.\n\n## Exercises")))[0]
    assert "0 '## Exercises'" in exercises_last_problems("n", notebook(md("## Summary\n\n- a")))[0]


def test_check_verdict():
    assert verdict_problems("v", notebook(md("## 7. Verdict"), code("show_shipped('table3')"), md("## Summary"))) == []
    assert verdict_problems("v", notebook(md("## 7. Table 3: the verdict"), code("x"))) == []
    assert "no code cell" in verdict_problems("v", notebook(md("## Verdict\n\ntext"), md("## Summary")))[0]
    assert "0 '## ... Verdict'" in verdict_problems("v", notebook(md("### Verdict"), code("x")))[0]


def test_check_words():
    assert word_problems("w", notebook(md("word " * 500), md("word " * 400))) == []
    assert "501 words" in word_problems("w", notebook(md("word " * 501)))[0]
    assert "3600 words of Markdown" in word_problems("w", notebook(*[md("w " * 400)] * 9))[0]


def test_check_phrases():
    nb = notebook(md("Measured on a 2-core CPU."), code("x", stream("goal: 0.76, not reached\n")),
                  code("y", result("Hardware of the runs: not recorded")))
    assert [p.split(":")[0] for p in phrase_problems("p", nb)] == ["p[0] (markdown)", "p[1] (stream", "p[2] (text/plain)"]
    assert phrase_problems("p", notebook(md("The cores of attention."), code("x", stream("reached 0.7")))) == []


def test_check_budget_patterns():
    """The patterns find the ways today's notebooks set their own sizes, and leave the budget's words alone."""
    violations = [
        'BUDGETS = {"smoke": (16, 16, 8), "laptop": (128, 200, 8)}',  # 04
        'LR = 2e-4  # the encoder learning rate',  # 04
        'LR, LAMBDA = 1e-4, 5.0',  # 07
        'n_train, n_dev = 500, 400',  # 03
        'N_TRAIN = 256 if laptop else ctx.scale.max_examples',  # 05
        'cfg = TrainConfig(method="summed", lr=5e-5)',  # 05
        'metrics = train_frozen_heads(m, tok, train, dev, epochs=EPOCHS, lr=1e-3, batch_size=64)',  # 03
        'MODES_BUDGET = {"smoke": ["--max-examples", "32", "--dev-examples", "32"]}',  # 08
        'BUDGET = {"laptop": ["--max-examples", "10000", "--epochs", "1"]}.get(SCALE, [])',  # 08
        'common = ["train", "--scale", s, *budget, "--batch-size", str(BATCH), "--epochs", "1",',  # 06
        'GRID = {"smoke": ["--lr", "1e-3,1e-4", "--smart-lambda", "1"]}',  # 08
        '!python -m mtl_lib train --max-examples 512 --lr 2e-4',
        'subset = dataclasses.replace(ctx.scale, max_examples=512, dev_examples=600)',
        'config = {"lr": 2e-4}',
        '    n_train, n_dev = 500, 400  # shrunk',
    ]
    for line in violations:
        assert budget_hits(line), line
    allowed = [
        'common = ["train", *budget_words(ctx.scale), "--seed", str(ctx.seed)]',
        'b = budget(ctx.scale); cfg = TrainConfig(lr=b["lr"], batch_size=b["batch_size"], epochs=b["epochs"])',
        'train, dev = load_frames(budget_scale(ctx.scale), seed=ctx.seed)',
        '"--lr", f"{LR:g}", "--dropout", f"{DROPOUT:g}"',
        'LR, DROPOUT, LAMBDA = float(best.lr), float(best.dropout), float(best.smart_lambda)',
        'cfg = TrainConfig(head_lr=1e-3)  # heads',
        'step_size = 0.5  # a 2-D toy',
        'x = f(max_examples=None)  # --max-examples 512 in a comment sets nothing',
        'print(f"{b[\'max_examples\']} training rows")',
        'def adamw_like_trainer(model, lr, head_lr, weight_decay=0.01):',  # 04: a signature, not a literal lr
        'cfg = TrainConfig(method="summed", lr=LR, epochs=1, batch_size=2)',
        'cut = dataclasses.replace(ctx.scale, max_examples=2 * b["max_examples"], dev_examples=b["dev_examples"])',
    ]
    for line in allowed:
        assert not budget_hits(line), (line, budget_hits(line))


def test_check_vocabulary():
    assert order_hits("sequential sst > para > sts, and para -> sst, and sts → para") == ["sst > para", "para -> sst",
                                                                                           "sts → para"]
    assert order_hits("sst→para→sts and SST > 0.4 and sst>0") == []
    assert linear_head_hits("The linear STS head is an MLP; a linear head on [u; v].") == ["linear STS head",
                                                                                         "linear head"]
    assert linear_head_hits("the paper's linear head, `--sts-head linear`\n`sts_head=\"linear\"`: the linear head") == []
    assert linear_head_hits("summed, linear STS head  0.516") == ["linear STS head"]
    assert class_name_hits("gold: somewhat positive") == ["somewhat positive"]
    assert class_name_hits("The paper calls class 1 somewhat negative.\n\nvery negative to very positive") == []
    assert class_name_hits("pairwise cosines that are all slightly positive") == []


def test_check_outputs():
    nb = notebook(code("a", result("<pandas.io.formats.style.Styler at 0x7ff3>")),
                  code("b", result("Text(0.5, 1.04, 'title')")),
                  code("c", result("<Figure size 640x480 with 1 Axes>", **{"image/png": "iVBOR"})),
                  code("d", result("<Figure size 640x480 with 1 Axes>")),
                  code("e", result("<matplotlib.axes._axes.Axes at 0x1>")))
    assert [p.split(":")[0] for p in repr_problems("o", nb)] == ["o[0]", "o[0]", "o[1]", "o[3]", "o[4]", "o[4]"]
    paths = notebook(code("x", stream("data: ../../shared/data/minbert\n"), stream("<urlopen error [Errno -2]>\n")))
    assert len(machine_problems("m", paths)) == 4
    assert machine_problems("m", notebook(code("x", stream("data: the offline copy\n")))) == []
    assert long_line_problems("l", notebook(code("x", stream("a" * 301 + "\n" + "b" * 300)))) != []
    assert long_line_problems("l", notebook(code("x", stream("b" * 300)))) == []
    bars = notebook(code("x", stream("epoch 1: 100%|#####| 64/64 [00:10<00:00, 6.1it/s]\n", "stderr")),
                    code("y", stream("step 1\rstep 2\rstep 3\n")), code("z", stream("done: 100% of the rows\n")))
    assert [p.split(" ")[0] for p in progress_problems("t", bars)] == ["t[0]", "t[1]"]


def test_check_quora_warning():
    warning = stream("DataWarning: quora-train.csv: skipped 2 bad row(s)\n", "stderr")
    nb = notebook(code("train, dev = load_frames(budget_scale(ctx.scale), seed=ctx.seed)", warning),
                  code("_, scale_dev = load_frames(ctx.scale, seed=ctx.seed)", warning),
                  code("sts = load_task('sts', 'dev')", warning),
                  code("train_or_load(args, out)", warning))
    assert [p.split(":")[0] for p in quora_warning_problems("q", nb)] == ["q[1]", "q[2]"]


def test_check_solutions():
    nb = notebook(md("## 2. Your turn: `attention`"), code("def f():\n    ### BEGIN SOLUTION\n    pass"),
                  md("## 3. Library"), code("### BEGIN SOLUTION\n"))
    assert solution_problems("s", nb) == ["s[1]: a solution block in a 'Your turn' cell"]
