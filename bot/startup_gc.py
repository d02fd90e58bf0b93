"""Python's cyclic collector while a command starts.

Starting a replay or the daemon loads some 300,000 objects that live as
long as the process: modules, classes, the config, the bar history. Their
allocation keeps triggering the collector, which walks them again and
again and finds nothing to free: in the start-up of a no-model replay,
330 collections and about 0.15 s, a tenth of it; 111 collections and
0.02 s with the pause (the rest come while bot.cli loads). So the
collector rests while a command starts, and what start-up made is then
frozen out of its sight (gc.freeze), which also keeps later full passes
as cheap as the objects made since.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def starting_up() -> Iterator[None]:
    """The collector paused for the block, and on again after it, however
    the block ends; nested blocks leave it to the outermost."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
