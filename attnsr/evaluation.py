"""Old import path of :mod:`attnsr.eval` (the evaluation protocol, its metrics and report writers);
everything is re-exported from there."""

from attnsr.eval import *  # noqa: F403
from attnsr.eval import __all__  # noqa: F401
