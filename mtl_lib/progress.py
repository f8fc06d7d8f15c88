"""Progress bars that a notebook's saved outputs can do without.

Every long loop in ``mtl_lib`` shows a tqdm bar (``tqdm.auto``: a widget in Jupyter, text in a
terminal) unless its caller turned it off. ``TQDM_DISABLE=1`` in the environment turns them all
off, also where a caller asked for one: that is how the course's notebooks are executed for
committing (a saved widget shows a frozen bar), while a student running them live sees the bars.
(tqdm reads ``TQDM_DISABLE`` itself only as a default, which an explicit ``disable=`` overrides.)
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm


def disabled_by_environment() -> bool:
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")


def bar(iterable=None, enabled: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``, off when ``enabled`` is False or ``TQDM_DISABLE`` is set."""
    return tqdm(iterable, disable=not enabled or disabled_by_environment(), **kwargs)
