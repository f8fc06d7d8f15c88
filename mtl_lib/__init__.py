"""mtl_lib: the reusable, device-agnostic code of the Multi-task minBERT course.

The notebooks import from here; a notebook writes code itself only where that
code is the lesson, and then checks it against the version in this package.
"""

__version__ = "0.1.0"
