"""Policy files: every kind of mistake is reported with its line and a plain message."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from schemas.durations import parse_duration
from schemas.policy import PolicyError, parse_policy

EXAMPLE = (Path(__file__).resolve().parents[3] / "examples" / "policy.yaml").read_text()
CONTRACTS = EXAMPLE[:EXAMPLE.index("# Internal teams")]  # the example up to its OLAs, for appending contracts

# Line numbers in examples/policy.yaml, for reading the cases below:
#  3 timezone   4 hours   5 holidays   7 id   8 customer   11 tickets.calendar   12 pause_statuses
# 13 warn_at   15 P1 targets   16 P2 targets   21 availability   25, 26 credit tiers   (26 lines)


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    return [(p.line, p.path, p.message) for p in info.value.problems]


def one(text: str) -> tuple[int | None, str, str]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_the_example_is_valid() -> None:
    policy = parse_policy(EXAMPLE)
    (contract,) = policy.contracts_for("acme", "search")
    assert contract.tickets.targets["P1"].response == timedelta(minutes=15)
    assert policy.contracts_for("acme", "billing") == []


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"),
    [
        ("calendar: emea-business", "calendar: apac", 11, "contracts[0].tickets.calendar", "unknown calendar 'apac'"),
        ("response: 15m", "response: 15 minutes", 15, "contracts[0].tickets.targets.P1.response", "bad duration '15 minutes'"),
        ("hours: {mon-fri: \"08:00-18:00\"}", "hours: {mon-fri: \"18:00-08:00\"}", 4, "calendars.emea-business.hours", "end before they start"),
        ("hours: {mon-fri: \"08:00-18:00\"}", "hours: {mon-fri: \"08:00-12:00,11:00-18:00\"}", 4, "calendars.emea-business.hours", "overlap on mon"),
        ("hours: {mon-fri: \"08:00-18:00\"}", "hours: {mon-fry: \"08:00-18:00\"}", 4, "calendars.emea-business.hours", "unknown day"),
        ("Europe/Berlin", "Europe/Berlim", 3, "calendars.emea-business.timezone", "unknown timezone 'Europe/Berlim'"),
        ("{objective: 0.999, window: 30d}", "{objective: 1.0, window: 30d}", 21, "contracts[0].probes.availability.objective", "strictly between 0 and 1"),
        ("{country: DE,", "{country: XX,", 5, "calendars.emea-business.holidays", "Country XX not available"),
        ("P2: {response: 1h,  resolution: 1d}", "P2: {}", 16, "contracts[0].tickets.targets.P2", "P2 has no target"),
        ("P2: {response: 1h,  resolution: 1d}", "P9: {response: 1h}", 16, "contracts[0].tickets.targets.P9", "Input should be 'P1'"),
        ("warn_at: [0.75, 0.9]", "warn_at: [0.9, 0.75]", 13, "contracts[0].tickets.warn_at", "increasing"),
        ("{below: 0.99,  credit: 25}", "{below: 0.9999,  credit: 25}", 26, "contracts[0].credits[1]", "credit tiers must go"),
        ("pause_statuses: [pending, on_hold]", "pause_statuses: [pending, waiting]", 12, "contracts[0].tickets.pause_statuses[1]", "Input should be"),
        ("    customer: acme\n", "    customer: acme\n    colour: red\n", 9, "contracts[0].colour", "unknown or unsupported field"),
    ],
)
def test_each_mistake_is_reported_with_its_line(old: str, new: str, line: int, path: str, message: str) -> None:
    assert old in EXAMPLE
    got_line, got_path, got_message = one(EXAMPLE.replace(old, new, 1))
    assert (got_line, got_path) == (line, path)
    assert message in got_message


def test_duplicate_contract_ids() -> None:
    text = CONTRACTS + "  - id: acme-gold\n    customer: other\n    services: [x]\n"
    assert one(text)[:2] == (27, "contracts[1].id")
    assert "duplicate contract id 'acme-gold'" in one(text)[2]


def test_several_problems_are_all_reported() -> None:
    text = EXAMPLE.replace("Europe/Berlin", "Mars/Base").replace("response: 15m", "response: soon")
    assert [(line, path) for line, path, _ in problems(text)] == [
        (3, "calendars.emea-business.timezone"), (15, "contracts[0].tickets.targets.P1.response"),
    ]


@pytest.mark.parametrize(("text", "line", "says"), [
    ("contracts:\n  - id: [unclosed\n", 2, "a flow sequence opened at column 9 is never closed"),  # not where PyYAML gave up
    ("contracts:\n  - id: \"a\n    customer: x\n", 2, "a quoted scalar opened at column 9 is never closed"),
    ("contracts:\n  - id: a\n   customer: x\n", 3, "at column 4"),
    ("contracts:\n  - id: a\n    customer: x: y\n", 3, "mapping values are not allowed here at column 16"),
])
def test_yaml_that_does_not_parse_is_one_line_at_the_line_to_fix(text: str, line: int, says: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"p.yaml: line {line}: not valid YAML: ") and says in lines[0]


def test_unknown_names_are_reported_in_the_same_pass_as_structural_problems() -> None:
    text = (CONTRACTS.replace("calendar: emea-business", "calendar: nowhere").replace("    customer: acme\n", "")
            + CONTRACTS.split("contracts:\n", 1)[1])  # the same contract again: a duplicate id
    assert [(line, path, message.split(" (")[0]) for line, path, message in problems(text)] == [
        (7, "contracts[0].customer", "Field required"),
        (10, "contracts[0].tickets.calendar", "unknown calendar 'nowhere'"),
        (26, "contracts[1].id", "duplicate contract id 'acme-gold'"),
    ]


def test_broken_yaml_and_wrong_top_level() -> None:
    line, _, message = one("contracts:\n  - id: [unclosed\n")
    assert line == 2 and "not valid YAML" in message
    assert "a policy file is a mapping" in one("- just a list\n")[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("4h", timedelta(hours=4)),
     ("2d", timedelta(days=2)), ("1h30m", timedelta(minutes=90)), ("PT4H", timedelta(hours=4)),
     ("P1DT2H", timedelta(hours=26)), ("PT0.5S", timedelta(milliseconds=500))],
)
def test_duration_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0m", "15", "1y", "PT", "-5m", "P"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_cli_exit_codes(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(EXAMPLE)
    bad.write_text(EXAMPLE.replace("calendar: emea-business", "calendar: apac"))
    ok = subprocess.run([sys.executable, "-m", "streams.cli", "policy", "validate", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "1 contract(s)" in ok.stdout
    ko = subprocess.run([sys.executable, "-m", "streams.cli", "policy", "validate", str(bad)], capture_output=True, text=True)
    assert ko.returncode == 1
    assert f"{bad}: line 11: contracts[0].tickets.calendar: unknown calendar 'apac'" in ko.stdout


PROBES = EXAMPLE.replace("      burn_rate_alerts: google-sre-default\n", """      burn_rate_alerts:
        - {name: fast, severity: page, factor: 10, long: 1h, short: 5m}
      maintenance:
        - {start: "2026-12-05T22:00:00Z", end: "2026-12-06T02:00:00Z"}
        - {weekly: "sun 02:00-04:00", timezone: Europe/Berlin}
""")
# In PROBES: 24 the burn rule, 26 the one-off window, 27 the weekly window.


def test_probe_sections_parse() -> None:
    probes = parse_policy(PROBES).contracts[0].probes
    assert [r.name for r in probes.burn_rate_alerts] == ["fast"]
    assert len(probes.maintenance) == 2 and probes.no_data_after == timedelta(minutes=5)
    default = parse_policy(EXAMPLE).contracts[0].probes.burn_rate_alerts
    assert [(r.factor, r.long, r.short) for r in default] == [
        (14.4, timedelta(hours=1), timedelta(minutes=5)), (6.0, timedelta(hours=6), timedelta(minutes=30)),
        (1.0, timedelta(days=3), timedelta(hours=6)),
    ]


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("short: 5m}", "short: 2h}", 24, "short window must be shorter"),
        ('weekly: "sun 02:00', 'weekly: "sunday 02:00', 27, "unknown day 'sunday'"),
        ('end: "2026-12-06T02:00:00Z"', 'end: "2026-12-05T21:00:00Z"', 26, "must end after it starts"),
        ('{start: "2026-12-05T22:00:00Z", ', "{", 26, "needs start and end"),
        ("timezone: Europe/Berlin}", "timezone: Mars/Base}", 27, "unknown timezone"),
    ],
)
def test_probe_section_mistakes(old: str, new: str, line: int, message: str) -> None:
    assert old in PROBES
    got_line, _, got_message = one(PROBES.replace(old, new, 1))
    assert got_line == line and message in got_message


def test_unknown_alert_set() -> None:
    line, path, message = one(EXAMPLE.replace("burn_rate_alerts: google-sre-default", "burn_rate_alerts: google"))
    assert (line, path) == (23, "contracts[0].probes.burn_rate_alerts")
    assert "unknown alert set 'google'" in message


def test_olas_parse_and_name_their_team() -> None:
    policy = parse_policy(EXAMPLE)
    network, telco = policy.doc.olas
    assert (network.team, telco.team) == ("group:network", "supplier:telco-partner")
    assert network.targets["P1"].resolution == timedelta(hours=2) and network.pause_statuses == ("pending",)


def test_every_ola_problem_is_reported_in_one_pass_with_its_line() -> None:
    base = EXAMPLE.index("olas:")  # every problem below at once, with the example's contracts
    text = EXAMPLE[:base] + """olas:
  - group: network
    calendar: apac
    targets: {P1: {}, P2: {resolution: 1h}}
  - group: network
    targets: {P1: {resolution: 1h}}
  - supplier: telco
    group: desk
    targets: {P1: {response: 10 minutes}}
  - supplier: other
    targets: {}
"""
    first = EXAMPLE[:base].count("\n") + 1  # the line of `olas:`
    assert problems(text) == [
        (first + 2, "olas[0].calendar", "unknown calendar 'apac'"),
        (first + 3, "olas[0].targets.P1", "P1 has no target"),
        (first + 4, "olas[1].group", "group 'network' has an OLA already (olas[0])"),
        (first + 6, "olas[2]", "an OLA names exactly one of `group` (a support group) or `supplier` (an underpinning contract)"),
        (first + 8, "olas[2].targets.P1.response",
         "bad duration '10 minutes': use 90s, 15m, 4h, 2d, 1h30m or ISO 8601 such as PT4H"),
        (first + 10, "olas[3].targets", "an OLA needs targets for at least one priority"),
    ]


CONTACTS = """contracts:
  - id: care
    customer: acme
    services: ["*"]
    contacts:
      objectives:
        - queue: support
          service_level: {target: 0.8, within: 20s}
          max_asa: 30s
        - queue: "*"
          channel: chat
          max_abandonment: 0.05
"""


def test_contact_objectives_parse_with_documented_defaults() -> None:
    contacts = parse_policy(CONTACTS).contracts[0].contacts
    assert contacts is not None
    assert (contacts.short_abandon, contacts.service_level_formula) == (timedelta(seconds=5), "offered_minus_short_abandons")
    support, chats = contacts.objectives
    assert (support.label, chats.label) == ("support", "*/chat")
    assert support.covers("support", "email") and not support.covers("sales", "voice")
    assert chats.covers("sales", "chat") and not chats.covers("sales", "voice")


def test_every_contact_objective_problem_is_reported_in_one_pass_with_its_line() -> None:
    text = CONTACTS.replace("      objectives:\n", """      service_level_formula: calls
      short_abandon: soon
      objectives:
        - queue: sales
        - queue: support
          channel: phone
          max_asa: 1m
        - queue: support
          max_abandonment: 1.5
""")
    assert problems(text) == [
        (6, "contracts[0].contacts.service_level_formula",
         "Input should be 'offered', 'offered_minus_short_abandons' or 'answered'"),
        (7, "contracts[0].contacts.short_abandon",
         "bad duration 'soon': use 90s, 15m, 4h, 2d, 1h30m or ISO 8601 such as PT4H"),
        (9, "contracts[0].contacts.objectives[0]",
         "an objective needs at least one of service_level, max_asa, max_abandonment"),
        (11, "contracts[0].contacts.objectives[1].channel", "Input should be 'voice', 'chat', 'email' or 'messaging'"),
        (14, "contracts[0].contacts.objectives[2].max_abandonment", "Input should be less than 1"),
        (15, "contracts[0].contacts.objectives[3]",
         "objective 'support' is defined twice (first at objectives[2]); give one a `name`"),
    ]
