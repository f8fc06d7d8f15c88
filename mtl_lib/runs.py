"""Old name of ``mtl_lib.run_folder``, the run folder (checkpoints, weights, where runs go): existing imports keep working."""
import sys

from . import run_folder

sys.modules[__name__] = run_folder
