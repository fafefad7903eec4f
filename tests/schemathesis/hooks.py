"""Schemathesis hooks for scripts/test.sh's API fuzzing step (see schemathesis.toml).

`from` and `to` are each described exactly by openapi.yaml's `Day` schema, but three documented
rules join them or need a calendar, which JSON Schema cannot state: the day must exist in its
month (`2024-02-30` is 400), `from` must not be after `to`, and the range must not exceed
MAX_RANGE_DAYS (3660 by default). Left alone, almost every generated
"valid" pair breaks one of them (random years 1000-9999), the function rightly answers 400, and
`positive_data_acceptance` would have to be switched off. Instead, positive cases are made to
obey the rules before they are sent: the days are moved onto real dates and into order, within
the maximum. Everything else the generator drew (the figure, the department, what follows each
date) is kept, and negative cases are not touched. tests/it/contract.rs and tests/it/openapi.rs
check the 400s of these rules.
"""

import datetime
import os
import re

import schemathesis
from schemathesis import GenerationMode

# What the served function reads (scripts/test.sh leaves the default).
MAX_RANGE_DAYS = int(os.environ.get("MAX_RANGE_DAYS", "3660"))
# The leading date of a `Day` value (the schema guarantees this shape for positive cases).
DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _last_day(year: int, month: int) -> int:
    following = datetime.date(year + month // 12, month % 12 + 1, 1)
    return (following - datetime.timedelta(days=1)).day


def _real_date(value: str) -> datetime.date | None:
    """The leading date of `value`, its day moved back to the month's last if past it."""
    match = DATE.match(value)
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    if not (1000 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return datetime.date(year, month, min(day, _last_day(year, month)))


def _with_date(value: str, date: datetime.date) -> str:
    return date.isoformat() + value[10:]


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    query = case.query
    if not isinstance(query, dict):
        return case
    start, end = query.get("from"), query.get("to")
    if not (isinstance(start, str) and isinstance(end, str)):
        return case
    first, last = _real_date(start), _real_date(end)
    if first is None or last is None:
        return case
    if first > last:
        (first, start), (last, end) = (last, end), (first, start)
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        last = first + datetime.timedelta(days=MAX_RANGE_DAYS - 1)
    query["from"], query["to"] = _with_date(start, first), _with_date(end, last)
    return case
