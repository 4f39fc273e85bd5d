"""`slastream whatif`: load the history, simulate both policies, compare, report."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.progress import Progress

from schemas.policy import Policy
from streams.whatif.compare import Comparison, compare
from streams.whatif.figures import Figures, simulated
from streams.whatif.history import History
from streams.whatif.simulate import Outputs, simulate


@dataclass
class Run:
    """One policy over the history: its outputs, its figures, and how long it took."""

    outputs: Outputs
    figures: Figures
    seconds: float


def run_policy(policy: Policy, history: History, until: datetime, name: str, console: Console) -> Run:
    """Simulate `policy` with a progress bar, then read its figures from a scratch ClickHouse."""
    started = time.process_time()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"{name}: replaying", total=len(history.events))
        outputs = simulate(policy, history.events, until, lambda n: progress.update(task, completed=n))
    seconds = time.process_time() - started
    with tempfile.TemporaryDirectory(prefix="slastream-whatif-") as scratch:
        figures = simulated(policy, outputs, Path(scratch), datetime.now(timezone.utc))
    return Run(outputs, figures, seconds)


def whatif(current: Policy, proposed: Policy, history: History, until: datetime, console: Console,
           customers: Sequence[str] = (), contracts: Sequence[str] = ()) -> tuple[Comparison, Run, Run]:
    """Both policies over `history` (deadlines fire up to `until`), compared."""
    a = run_policy(current, history, until, "current", console)
    b = run_policy(proposed, history, until, "proposed", console)
    comparison = compare(a.figures, b.figures, a.outputs.deadlines, b.outputs.deadlines,
                         set(customers) or None, set(contracts) or None)
    return comparison, a, b
