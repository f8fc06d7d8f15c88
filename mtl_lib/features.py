"""Old name of ``mtl_lib.frozen``, the frozen baseline (heads on cached features): existing imports keep working."""
import sys

from . import frozen

sys.modules[__name__] = frozen
