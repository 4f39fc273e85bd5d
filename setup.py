"""Build step: the SLA clock engine compiled to C with mypyc, when the machine can.

Replay, what-if and the worker's ticks spend their time in the engine's modules (ENGINE);
compiled as they are, replay runs 1.15-1.4 times as fast and a ticket burst through the
worker takes about a third less CPU (docs/architecture.md, eighth round). Without a C
compiler, with a failing build, or with SLASTREAM_PURE=1 the same modules run as Python,
with the same results: compiling is for speed only. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

# Whole group or nothing: the compiled modules call each other natively.
ENGINE = ["streams/engine/instants.py", "streams/engine/calendar.py", "streams/engine/clocks.py",
          "streams/engine/state_codec.py", "streams/engine/schedule.py",
          "streams/engine/replay.py"]


class EngineBuild(build_ext):
    """Builds the compiled engine; a build that fails leaves the engine as Python."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: the modules run as Python
            print(f"slastream: the engine is not compiled ({exc}); it runs as Python", file=sys.stderr)


def _compiled() -> list[Any]:
    if os.environ.get("SLASTREAM_PURE") == "1":
        return []
    try:
        from mypyc.build import mypycify

        return list(mypycify(ENGINE, group_name="slastream_engine", opt_level="3"))
    except Exception as exc:  # mypyc refused a module: Python it is
        print(f"slastream: the engine is not compiled ({exc}); it runs as Python", file=sys.stderr)
        return []


setup(ext_modules=_compiled(), cmdclass={"build_ext": EngineBuild})
