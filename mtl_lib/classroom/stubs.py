"""Solution blocks: find them, and replace each by a stub that raises NotImplementedError.

A block is the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION``
(comment lines, so marking never changes what the code does). Optional
``### HINT: ...`` lines right after BEGIN become the stub's message. The stub
takes the BEGIN line's indentation, so the code around the block - the
signature and docstring before it, anything after it - stays valid::

    # YOUR CODE HERE
    raise NotImplementedError(
        "Exercise 'pooling' (mtl_lib/encode.py, pool) is not written yet. Hint: ..."
    )
"""

from __future__ import annotations

import ast
import copy
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Callable

from . import ClassroomError, exercise_at

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"


@dataclass
class Block:
    """One solution block; ``start``/``end`` are 1-based line numbers of its markers."""

    start: int
    end: int
    indent: str
    hint: str
    function: str  # qualified name of the enclosing function ("" at top level)


def _neutralize_magics(text: str) -> str:
    """Notebook cells may hold IPython lines (%pip, !ls): make them ``pass`` so ``ast`` can parse."""
    return re.sub(r"^(\s*)[%!].*$", r"\1pass", text, flags=re.M)


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.AST]]:
    """Every function and class with its qualified name, e.g. ``MultitaskBert.head``."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = prefix + node.name
            found.append((name, node))
            found += _functions(node, name + ".")
    return found


def find_blocks(text: str, where: str) -> list[Block]:
    """The solution blocks of ``text``; ``where`` (a file, a notebook cell) names it in errors."""
    blocks, start, lines = [], None, text.splitlines()
    for n, line in enumerate(lines, 1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if start is not None:
                raise ClassroomError(f"{where}:{n}: '{BEGIN}' inside the solution block opened at "
                                     f"line {start}; close that one first with '{END}'.")
            start = n
        elif marker.startswith(END):
            if start is None:
                raise ClassroomError(f"{where}:{n}: '{END}' without a '{BEGIN}' above it; "
                                     "add the BEGIN line where the solution starts, or delete this line.")
            hints = []
            for hint_line in lines[start:n - 1]:
                if not hint_line.strip().startswith(HINT):
                    break
                hints.append(hint_line.strip()[len(HINT):].strip())
            indent = re.match(r"\s*", lines[start - 1]).group(0)
            blocks.append(Block(start, n, indent, " ".join(hints), ""))
            start = None
    if start is not None:
        raise ClassroomError(f"{where}:{start}: '{BEGIN}' is never closed; add '{END}' after the solution.")
    try:
        functions = _functions(ast.parse(_neutralize_magics(text)))
    except SyntaxError as error:
        raise ClassroomError(f"{where}:{error.lineno}: not valid Python ({error.msg}).") from None
    for block in blocks:
        around = [name for name, node in functions if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.lineno <= block.start <= node.end_lineno]
        block.function = around[-1] if around else ""  # the innermost one
    return blocks


def stub_text(text: str, where: str, message: Callable[[Block], str],
              stub_block: Callable[[Block], bool] | None = None) -> tuple[str, list[Block]]:
    """``text`` with each block replaced by a stub raising ``NotImplementedError(message(block))``.

    Blocks for which ``stub_block`` says False keep their code and lose only the marker and hint
    lines (a release of one assignment gives the others' reference code). Returns the stubbed blocks.
    """
    blocks = find_blocks(text, where)
    lines = text.splitlines(keepends=True)
    kept = [b for b in blocks if stub_block is not None and not stub_block(b)]
    blocks = [b for b in blocks if b not in kept]
    for block in sorted(blocks + kept, key=lambda b: b.start, reverse=True):  # from the end: line numbers stay right
        if block in kept:
            body = lines[block.start:block.end - 1]
            hints = next((i for i, line in enumerate(body) if not line.strip().startswith(HINT)), len(body))
            lines[block.start - 1:block.end] = body[hints:]
            continue
        stub = [f"{block.indent}# YOUR CODE HERE\n", *_raise_lines(block.indent, message(block))]
        if block.end == len(lines) and not lines[-1].endswith("\n"):
            stub[-1] = stub[-1].rstrip("\n")  # keep a missing final newline missing (notebook cells)
        lines[block.start - 1:block.end] = stub
    stubbed = "".join(lines)
    if blocks:
        try:
            ast.parse(_neutralize_magics(stubbed))
        except SyntaxError as error:
            raise ClassroomError(f"{where}: the stubbed code does not parse (line {error.lineno}: "
                                 f"{error.msg}); a solution block must hold whole statements.") from None
    return stubbed, blocks


def _raise_lines(indent: str, message: str, width: int = 88) -> list[str]:
    """``raise NotImplementedError(...)`` with the message split over short string literals."""
    parts = textwrap.wrap(message, max(width - len(indent) - 8, 30), drop_whitespace=False,
                          break_on_hyphens=False)
    if "".join(parts) != message or len(parts) < 2:
        return [f"{indent}raise NotImplementedError({message!r})\n"]
    return [f"{indent}raise NotImplementedError(\n",
            *(f"{indent}    {json.dumps(part, ensure_ascii=False)}\n" for part in parts),  # "..." literals
            f"{indent})\n"]


def library_message(file: str) -> Callable[[Block], str]:
    """Stub messages for a course module: the exercise's name, where it is, its hint."""
    def message(block: Block) -> str:
        exercise = exercise_at(file, block.function)
        name = exercise.name if exercise else block.function or "solution"
        see = f" See notebook {exercise.notebook}." if exercise else ""
        hint = block.hint or "write this part."
        return f"Exercise {name!r} ({file}, {block.function or 'top level'}) is not written yet. Hint: {hint}{see}"
    return message


def notebook_message(notebook: str) -> Callable[[Block], str]:
    """Stub messages for a notebook cell: the function to write and the notebook it is in."""
    def message(block: Block) -> str:
        name = block.function or "this cell"
        hint = block.hint or "write this part; the text above the cell says what it must do."
        return f"Your turn: exercise {name!r} of notebook {notebook} is not written yet. Hint: {hint}"
    return message


def cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def stub_notebook(notebook: dict, name: str, keep_checked_outputs: bool = True,
                  stub_block: Callable[[Block], bool] | None = None) -> tuple[dict, int]:
    """A student copy of a notebook (as JSON): solution blocks stubbed, execution counts and
    outputs cleared (``stub_block`` as in ``stub_text``). Cells marked ``# NBVAL_CHECK_OUTPUT`` keep
    their outputs and execution count (nbval compares against those outputs, and refuses a cell
    that has outputs but no execution count: without them the release's ``pytest`` could never
    pass). Returns the notebook and its number of stubbed blocks."""
    notebook, count = copy.deepcopy(notebook), 0
    message = notebook_message(name.rsplit("/", 1)[-1].removesuffix(".ipynb"))
    for i, cell in enumerate(notebook.get("cells", [])):
        cell.get("metadata", {}).pop("execution", None)  # timestamps of the last run
        if cell.get("cell_type") != "code":
            continue
        text = cell_text(cell)
        stubbed, blocks = stub_text(text, f"{name} cell {i}", message, stub_block)
        count += len(blocks)
        if stubbed != text:
            cell["source"] = stubbed.splitlines(keepends=True)
        if blocks or not (keep_checked_outputs and "NBVAL_CHECK_OUTPUT" in text):
            cell["outputs"], cell["execution_count"] = [], None
    return notebook, count


STUB_ERROR = re.compile(r"[Ee]xercise '([\w.]+)'.{0,120}? is not written yet")


def stub_exercise(error_text: str) -> str | None:
    """The exercise whose stub raised the error described by ``error_text`` (a stub's NotImplementedError
    message, anywhere in a traceback), or None: how a release's own tests tell "not written yet" from a bug."""
    match = STUB_ERROR.search(error_text)
    return match.group(1) if match else None


def signatures(text: str) -> dict[str, str]:
    """Each function's (and class's) signature and docstring, as text to compare. Functions
    defined inside a solution block are part of the solution and left out."""
    tree = ast.parse(_neutralize_magics(text))
    blocks = find_blocks(text, "") if BEGIN in text else []
    out = {}
    for name, node in _functions(tree):
        if any(b.start < node.lineno < b.end for b in blocks):
            continue
        if isinstance(node, ast.ClassDef):
            head = ast.dump(ast.Tuple(node.bases, ast.Load()))
        else:
            head = ast.dump(node.args) + ast.dump(node.returns or ast.Constant(None))
        decorators = [ast.dump(d) for d in node.decorator_list]
        out[name] = f"{head} {decorators} {ast.get_docstring(node)!r}"
    return out
