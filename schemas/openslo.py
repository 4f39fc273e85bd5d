"""OpenSLO v1 `SLO` documents translated into slastream contracts.

slastream measures two probe SLIs, so an OpenSLO indicator must name one of them through a
metric source of type `slastream`:

- availability: a `ratioMetric` whose `good` (or `bad`) source has `spec: {result: ok}`
  (or `failed`) and whose `total` source has `spec: {result: any}`;
- latency: a `thresholdMetric` with source `spec: {field: latency_ms}` and one objective
  `op: lte, value: <ms>`.

`timeWindow` is a rolling duration (m, h, d, w) or the calendar month (`duration: 1M`,
`isRolling: false`, time zone UTC); `budgetingMethod` is Occurrences or Timeslices with a
`timeSliceWindow` of 1m (probe buckets are minutes). Documents naming the same contract
(annotation `slastream/contract`, default `metadata.name`) merge into one contract;
`slastream/customer` names its customer (default: the contract id). Everything else that
OpenSLO allows (other kinds, indicatorRef, alertPolicies, other sources) is refused with
its line, never ignored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.durations import parse_duration
from schemas.policy import (
    AvailabilityObjective, Contract, LatencyObjective, PolicyError, ProbePolicy, Problem, node_lines,
    validation_problems,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Metadata(_Strict):
    name: str = Field(min_length=1)
    display_name: str | None = Field(default=None, alias="displayName")
    labels: dict[str, Any] = {}
    annotations: dict[str, str] = {}


class MetricSource(_Strict):
    type: Literal["slastream"] = Field(description="slastream measures its own probe SLIs")
    spec: dict[str, str]


class SourceRef(_Strict):
    metric_source: MetricSource = Field(alias="metricSource")


class RatioMetric(_Strict):
    counter: bool = True
    good: SourceRef | None = None
    bad: SourceRef | None = None
    total: SourceRef


class ThresholdMetric(_Strict):
    metric_source: MetricSource = Field(alias="metricSource")


class IndicatorSpec(_Strict):
    description: str | None = None
    ratio_metric: RatioMetric | None = Field(default=None, alias="ratioMetric")
    threshold_metric: ThresholdMetric | None = Field(default=None, alias="thresholdMetric")


class Indicator(_Strict):
    metadata: Metadata | None = None
    spec: IndicatorSpec


class Calendar(_Strict):
    start_time: str | None = Field(default=None, alias="startTime")
    time_zone: Literal["UTC", "Etc/UTC"] = Field(alias="timeZone", description="calendar months are UTC months")


class TimeWindow(_Strict):
    duration: str
    is_rolling: bool = Field(alias="isRolling")
    calendar: Calendar | None = None


class Objective(_Strict):
    display_name: str | None = Field(default=None, alias="displayName")
    op: Literal["lte"] | None = Field(default=None, description="latency objectives: results at or under `value`")
    value: float | None = None
    target: float | None = None
    target_percent: float | None = Field(default=None, alias="targetPercent")
    time_slice_target: float | None = Field(default=None, alias="timeSliceTarget")
    time_slice_window: str | None = Field(default=None, alias="timeSliceWindow")


class SloSpec(_Strict):
    description: str | None = None
    service: str = Field(min_length=1)
    indicator: Indicator
    time_window: tuple[TimeWindow] = Field(alias="timeWindow")
    budgeting_method: Literal["Occurrences", "Timeslices"] = Field(alias="budgetingMethod")
    objectives: tuple[Objective] = Field(description="slastream keeps one objective per SLI")


class SloDocument(_Strict):
    api_version: Literal["openslo/v1"] = Field(alias="apiVersion")
    kind: Literal["SLO"] = Field(description="only SLO documents with an inline indicator are translated")
    metadata: Metadata
    spec: SloSpec


def is_openslo(text: str) -> bool:
    """True when the YAML text's first document is an OpenSLO one."""
    try:
        first = next(yaml.safe_load_all(text), None)
    except yaml.YAMLError:
        return False
    return isinstance(first, dict) and str(first.get("apiVersion", "")).startswith("openslo/")


def parse_openslo(text: str, source: str = "<openslo>") -> tuple[Contract, ...]:
    """Translate the SLO documents of a YAML stream; raises PolicyError listing every problem with its line."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PolicyError(source, [Problem(mark.line + 1 if mark else None, "", f"not valid YAML: {exc}")]) from None
    problems: list[Problem] = []
    merged: dict[str, dict[str, Any]] = {}
    for n, (node, data) in enumerate(zip(nodes, docs)):
        index = node_lines(node)
        try:
            doc = SloDocument.model_validate(data)
            contract_id, customer, sli, objective = _translate(doc)
        except ValidationError as exc:
            problems += [_in_doc(p, n) for p in validation_problems(exc, index)]
            continue
        except _Refused as exc:
            problems.append(_in_doc(Problem(_line(index, exc.path), ".".join(exc.path), str(exc)), n))
            continue
        contract = merged.setdefault(contract_id, {"customer": customer, "services": [], "probes": {}})
        if sli in contract["probes"]:
            problems.append(_in_doc(Problem(index.get(()), "", f"contract {contract_id!r} already has a {sli} SLO"), n))
            continue
        if doc.spec.service not in contract["services"]:
            contract["services"].append(doc.spec.service)
        contract["probes"][sli] = objective
    if not docs:
        problems.append(Problem(None, "", "no OpenSLO documents"))
    if problems:
        raise PolicyError(source, problems)
    return tuple(
        Contract(id=cid, customer=c["customer"], services=tuple(c["services"]), probes=ProbePolicy(**c["probes"]))
        for cid, c in merged.items()
    )


class _Refused(ValueError):
    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _translate(doc: SloDocument) -> tuple[str, str, str, AvailabilityObjective | LatencyObjective]:
    spec = doc.spec
    (objective,) = spec.objectives
    target = objective.target if objective.target is not None else (
        None if objective.target_percent is None else objective.target_percent / 100
    )
    if target is None:
        raise _Refused(("spec", "objectives"), "an objective needs `target` (0-1) or `targetPercent`")
    common: dict[str, Any] = {"objective": target, "window": _window(spec.time_window[0])}
    if spec.budgeting_method == "Timeslices":
        if objective.time_slice_target is None or objective.time_slice_window not in ("1m", "60s"):
            raise _Refused(("spec", "objectives"), "Timeslices needs `timeSliceTarget` and `timeSliceWindow: 1m` "
                                                   "(probe buckets are minutes)")
        common["timeslice_target"] = objective.time_slice_target
    indicator = spec.indicator.spec
    name = doc.metadata.annotations.get("slastream/contract", doc.metadata.name)
    customer = doc.metadata.annotations.get("slastream/customer", name)
    try:
        if indicator.ratio_metric is not None and indicator.threshold_metric is None:
            _availability_sources(indicator.ratio_metric)
            if objective.op is not None or objective.value is not None:
                raise _Refused(("spec", "objectives"), "a ratio objective takes no `op` or `value`")
            return name, customer, "availability", AvailabilityObjective(**common)
        if indicator.threshold_metric is not None and indicator.ratio_metric is None:
            if indicator.threshold_metric.metric_source.spec != {"field": "latency_ms"}:
                raise _Refused(("spec", "indicator", "spec", "thresholdMetric"),
                               "the threshold source must be `spec: {field: latency_ms}`")
            if objective.op != "lte" or objective.value is None:
                raise _Refused(("spec", "objectives"), "a latency objective needs `op: lte` and `value` in milliseconds")
            return name, customer, "latency", LatencyObjective(threshold_ms=objective.value, **common)
    except ValidationError as exc:  # values our model refuses, e.g. a target of 1
        raise _Refused(("spec", "objectives"), exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    raise _Refused(("spec", "indicator", "spec"), "the indicator needs exactly one of ratioMetric or thresholdMetric")


def _availability_sources(ratio: RatioMetric) -> None:
    where = ("spec", "indicator", "spec", "ratioMetric")
    if (ratio.good is None) == (ratio.bad is None):
        raise _Refused(where, "a ratio needs exactly one of `good` or `bad`")
    if ratio.total.metric_source.spec != {"result": "any"}:
        raise _Refused(where + ("total",), "the total source must be `spec: {result: any}`")
    if ratio.good is not None and ratio.good.metric_source.spec != {"result": "ok"}:
        raise _Refused(where + ("good",), "the good source must be `spec: {result: ok}`")
    if ratio.bad is not None and ratio.bad.metric_source.spec != {"result": "failed"}:
        raise _Refused(where + ("bad",), "the bad source must be `spec: {result: failed}`")


def _window(window: TimeWindow) -> timedelta | str:
    text = window.duration.strip()
    if not window.is_rolling:
        if text != "1M" or window.calendar is None:
            raise _Refused(("spec", "timeWindow"), "a calendar window must be `duration: 1M` with a UTC `calendar`")
        return "month"
    if window.calendar is not None:
        raise _Refused(("spec", "timeWindow"), "a rolling window takes no `calendar`")
    if text.endswith("w") and text[:-1].isdigit():
        return timedelta(weeks=int(text[:-1]))
    try:
        return parse_duration(text)
    except ValueError:
        raise _Refused(("spec", "timeWindow"), f"unsupported rolling duration {text!r}: use m, h, d or w") from None


def _line(index: dict[tuple[Any, ...], int], path: tuple[str, ...]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in index:
            return index[path[:end]]
    return None


def _in_doc(problem: Problem, n: int) -> Problem:
    return Problem(problem.line, f"document {n + 1}: {problem.path}" if problem.path else f"document {n + 1}", problem.message)
