"""The pure core: SLA clocks, business calendars, probe minutes and SLO windows; no Faust, no Kafka.

Some of these modules may be compiled (setup.py: mypyc, at install). A compiled module sits
beside its source and Python prefers it, so a source edited since the build would not run;
then the whole compiled group is passed over (its modules call each other natively) and the
sources run until the next install (`make install` rebuilds when a source changed).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

_HERE = Path(__file__).parent


def _sources_if_stale() -> dict[str, str]:
    """Module name -> source path of every compiled module, if any of them is older than its source."""
    compiled = {}
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for built in _HERE.glob(f"*{suffix}"):
            source = built.with_name(built.name[: -len(suffix)] + ".py")
            if source.exists():
                compiled[f"{__name__}.{source.stem}"] = (built, source)
    stale = any(src.stat().st_mtime > built.stat().st_mtime for built, src in compiled.values())
    return {name: str(src) for name, (_, src) in compiled.items()} if stale else {}


class _SourcesFirst(importlib.abc.MetaPathFinder):
    """Finds the engine's modules from their sources, past their compiled builds."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(name)
        return None if source is None else importlib.util.spec_from_file_location(name, source)


if _stale := _sources_if_stale():
    print(f"slastream: {_HERE} changed since it was compiled; it runs as Python until `make install`",
          file=sys.stderr)
    sys.meta_path.insert(0, _SourcesFirst(_stale))
