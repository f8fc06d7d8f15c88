"""Old name of ``mtl_lib.pretrained``, reading pretrained BERT checkpoints: existing imports keep working."""
import sys

from . import pretrained

sys.modules[__name__] = pretrained
