"""Two policies' figures over one history, side by side (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from streams.whatif.figures import ContactFigures, ContactKey, Figures, Instance, ProbeFigures, ProbeKey, SlaFigures, SlaKey

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Row(Generic[K, V]):
    key: K
    current: V | None  # None: no such row under that policy
    proposed: V | None

    @property
    def changed(self) -> bool:
        return self.current != self.proposed


@dataclass(frozen=True)
class Change:
    """An SLA instance whose outcome differs between the policies."""

    instance_id: str
    contract_id: str
    customer: str
    metric: str
    level: str
    current: str  # met, missed, breached (still open), open, or absent
    proposed: str
    current_deadline: datetime | None
    proposed_deadline: datetime | None


@dataclass(frozen=True)
class Comparison:
    sla: list[Row[SlaKey, SlaFigures]]
    probes: list[Row[ProbeKey, ProbeFigures]]
    changes: list[Change]
    contacts: list[Row[ContactKey, ContactFigures]]

    def only_changed(self) -> "Comparison":
        """The rows that differ, and the changes."""
        return Comparison([r for r in self.sla if r.changed], [r for r in self.probes if r.changed], self.changes,
                          [r for r in self.contacts if r.changed])

    @property
    def differences(self) -> int:
        """Rows and instances that differ; 0 when the policies agree on this history."""
        return (sum(r.changed for r in self.sla) + sum(r.changed for r in self.probes) + len(self.changes)
                + sum(r.changed for r in self.contacts))


def outcome(instance: Instance | None) -> str:
    if instance is None:
        return "absent"
    if instance.state == "stopped":
        return instance.outcome or "stopped"
    return "breached" if instance.breached else "open"


def compare(current: Figures, proposed: Figures, current_deadlines: dict[str, datetime | None],
            proposed_deadlines: dict[str, datetime | None], customers: set[str] | None = None,
            contracts: set[str] | None = None) -> Comparison:
    """Every figure under both policies, and the instances whose outcome changes; only the
    given customers and contracts (all when None)."""
    def wanted(contract: str, customer: str) -> bool:
        return (customers is None or customer in customers) and (contracts is None or contract in contracts)

    sla = [Row(k, current.sla.get(k), proposed.sla.get(k)) for k in sorted(current.sla.keys() | proposed.sla.keys())]
    sla = [r for r in sla if wanted(r.key[0], (r.current or r.proposed).customer)]  # type: ignore[union-attr]
    probes = [Row(k, current.probes.get(k), proposed.probes.get(k))
              for k in sorted(current.probes.keys() | proposed.probes.keys()) if wanted(k[0], k[1])]
    changes = []
    for instance_id in sorted(current.instances.keys() | proposed.instances.keys()):
        before, after = current.instances.get(instance_id), proposed.instances.get(instance_id)
        either: Instance = before or after  # type: ignore[assignment]
        if outcome(before) != outcome(after) and wanted(either.contract_id, either.customer):
            changes.append(Change(instance_id, either.contract_id, either.customer, either.metric, either.level,
                                  outcome(before), outcome(after), current_deadlines.get(instance_id),
                                  proposed_deadlines.get(instance_id)))
    contacts = [Row(k, current.contacts.get(k), proposed.contacts.get(k))
                for k in sorted(current.contacts.keys() | proposed.contacts.keys()) if wanted(k[0], k[1])]
    return Comparison(sla, probes, changes, contacts)
