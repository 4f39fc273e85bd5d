"""The pure core: SLA clocks, business calendars, probe minutes and SLO windows; no Faust, no Kafka.

Some of these modules may be compiled (setup.py: mypyc, at install). A compiled module sits
beside its source and Python prefers it, so a source edited since the build would not run;
then the whole compiled group is passed over (its modules call each other natively) and the
sources run until the next install (`make install` builds again when a source changed).
SLASTREAM_ENGINE=python passes it over too (profiles that see the engine's Python frames,
A/B runs).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

_HERE = Path(__file__).parent


def _compiled() -> dict[str, tuple[Path, Path]]:
    """Module name -> (compiled file, source) of every compiled module here."""
    out = {}
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for built in _HERE.glob(f"*{suffix}"):
            source = built.with_name(built.name[: -len(suffix)] + ".py")
            if source.exists():
                out[f"{__name__}.{source.stem}"] = (built, source)
    return out


class _SourcesFirst(importlib.abc.MetaPathFinder):
    """Finds the engine's modules from their sources, past their compiled builds."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(name)
        return None if source is None else importlib.util.spec_from_file_location(name, source)


if _built := _compiled():
    _stale = [src.name for built, src in _built.values() if src.stat().st_mtime > built.stat().st_mtime]
    if _stale:
        print(f"slastream: {', '.join(sorted(_stale))} in {_HERE} changed since the engine was compiled; "
              "it runs as Python until `make install`", file=sys.stderr)
    if _stale or os.environ.get("SLASTREAM_ENGINE") == "python":
        sys.meta_path.insert(0, _SourcesFirst({name: str(src) for name, (_, src) in _built.items()}))


def build() -> str:
    """How the SLA engine runs here: "compiled" (mypyc) or "python" (benchmarks print it)."""
    from streams.engine import clocks

    return "python" if (clocks.__file__ or "").endswith(".py") else "compiled"
