"""Crontab schedules: parse the 5-field expressions users type, list their fire times, describe them.

We compute fire times ourselves because APScheduler 3.x's `CronTrigger.from_crontab` numbers the
days of the week from Monday (0 = Monday), so `0 9 * * 0` would record on the wrong day. The runner
arms its jobs with `next_run` and the API shows `next_runs`, so the times shown are the times fired.
Nothing here reads the clock: callers pass the time in.

Syntax: five fields separated by whitespace: minute (0-59), hour (0-23), day-of-month (1-31),
month (1-12 or jan-dec), day-of-week (0-7 or sun-sat; 0 and 7 are Sunday). Each field is a comma
list of `*`, `N`, `A-B`, `*/S`, `A-B/S` or `N/S` (N up to the field's maximum, step S). Names are
case-insensitive. Macros: @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.

Day-of-month and day-of-week (croniter 7 semantics): when both fields are restricted, a day matching
either one fires (`0 0 13 * 5` fires on every 13th and every Friday); otherwise both must match. A
field is unrestricted when it contains a bare `*` item, or when it covers its whole range and the
other field contains a `*` anywhere. Unlike Vixie cron, `*/2` is therefore restricted: `0 0 */2 * 1`
fires on odd days and on Mondays.

Time zones and daylight saving time: fire times are wall-clock times in the schedule's time zone.
- A wall-clock time that does not exist because clocks spring forward (02:30 in Europe/Berlin on
  2026-03-29) fires once, at the first valid instant after the gap (03:00 CEST). Several matching
  times in the same gap collapse into that one run, and a time right after the gap that matches
  itself (03:00) is not fired twice.
- A wall-clock time that occurs twice because clocks fall back (01:30 in America/New_York on
  2026-11-01) fires once, at its first occurrence (01:30 EDT, fold=0); the second pass through the
  repeated hour fires nothing.
So every matching wall-clock time fires exactly once. The search gives up (returning fewer runs)
after 30 years without a matching day; valid expressions match at least every 8 years (Feb 29).
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import MAXYEAR, date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class CronError(ValueError):
    """A cron expression or time zone a user typed is invalid; str() is a human message."""


@dataclass(frozen=True)
class CronSpec:
    """A parsed expression: the set of values each field allows, and which day fields take part in the OR rule."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool


@dataclass(frozen=True)
class _Field:
    """How one of the five fields reads: its name for messages, its bounds, and its names."""

    name: str
    low: int
    high: int
    star_high: int  # where `*` and `N/S` end: 6 for day-of-week, as croniter (7 is an alias of 0)
    names: tuple[str, ...] = ()


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_FIELDS = (_Field("minute", 0, 59, 59), _Field("hour", 0, 23, 23), _Field("day-of-month", 1, 31, 31),
           _Field("month", 1, 12, 12, tuple(m[:3].lower() for m in _MONTHS)),
           _Field("day-of-week", 0, 7, 6, tuple(d[:3].lower() for d in _WEEKDAYS)))
_MACROS = MappingProxyType({"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                            "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                            "@hourly": "0 * * * *"})
_DIGITS = re.compile(r"[0-9]+")
_UTC = timezone.utc
_GIVE_UP_YEARS = 30


def _value(token: str, field: _Field) -> int:
    if _DIGITS.fullmatch(token):
        number = int(token)
        if not field.low <= number <= field.high:
            raise CronError(f"{field.name} {number} is out of range {field.low}-{field.high}")
        return number
    if token.lower() in field.names:
        return field.names.index(token.lower()) + field.low
    raise CronError(f"{token!r} in {field.name} is not a number or name")


def _item(item: str, field: _Field) -> range:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not _DIGITS.fullmatch(step_text):
            raise CronError(f"step {step_text!r} in {field.name} is not a number")
        step = int(step_text)
        if step == 0:
            raise CronError(f"step 0 in {field.name} is not allowed")
    if base == "*":
        return range(field.low, field.star_high + 1, step)
    if "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(first, field), _value(last, field)
        if low > high:
            raise CronError(f"range {first}-{last} in {field.name} is backwards")
        return range(low, high + 1, step)
    low = _value(base, field)
    return range(low, max(low, field.star_high) + 1 if slash else low + 1, step)


def _field(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"empty list item in {field.name}")
        values.update(_item(item, field))
    return frozenset(0 if value == 7 == field.high else value for value in values)  # day-of-week 7 is Sunday


def _restricted(text: str, values: frozenset[int], size: int, other_text: str) -> bool:
    """Whether a day field takes part in the either-day rule, exactly as croniter 7 decides it."""
    return not ("*" in text.split(",") or (len(values) == size and "*" in other_text))


def _check_feasible(spec: CronSpec) -> None:
    """Refuse a schedule that can never fire, rather than silently never recording."""
    if not spec.days_restricted or spec.weekdays_restricted:
        return  # every month has every weekday and a day 1-28
    longest = {month: 29 if month == 2 else calendar.monthrange(2001, month)[1] for month in spec.months}
    if min(spec.days) <= max(longest.values()):
        return
    days, months = ",".join(map(str, sorted(spec.days))), [_MONTHS[month - 1] for month in sorted(spec.months)]
    raise CronError(f"day-of-month {days} never occurs in {_join(months, 'or')}")


def parse(expression: str) -> CronSpec:
    """Parse a 5-field crontab expression or macro; raise CronError with a message naming the field."""
    text = " ".join(expression.split())
    if not text:
        raise CronError("empty expression")
    parts = _MACROS.get(text.lower(), text).split()
    if text.startswith("@"):
        if text.lower() not in _MACROS:
            raise CronError(f"unknown macro {text!r}; use one of {', '.join(_MACROS)}")
        text = text.lower()
    if len(parts) != 5:
        raise CronError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    minutes, hours, days, months, weekdays = (_field(part, field) for part, field in zip(parts, _FIELDS))
    spec = CronSpec(text, minutes, hours, days, months, weekdays, _restricted(parts[2], days, 31, parts[4]),
                    _restricted(parts[4], weekdays, 7, parts[2]))
    _check_feasible(spec)
    return spec


def zone(name: str) -> ZoneInfo:
    """Look up an IANA time zone name; refuse anything that is not one (paths, the machine's 'localtime')."""
    if not name or name.startswith("/") or ".." in name or name in ("localtime", "posixrules"):
        raise CronError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(f"unknown time zone {name!r}") from None


def _month_days(spec: CronSpec, year: int, month: int) -> list[int]:
    either = spec.days_restricted and spec.weekdays_restricted
    first_weekday, length = calendar.monthrange(year, month)  # Monday = 0 there
    matches = []
    for day in range(1, length + 1):
        in_days, in_weekdays = day in spec.days, (first_weekday + day) % 7 in spec.weekdays
        if (in_days or in_weekdays) if either else (in_days and in_weekdays):
            matches.append(day)
    return matches


def _matching_days(spec: CronSpec, start: date) -> Iterator[date]:
    """Days that match, from `start` on; stop after _GIVE_UP_YEARS without one, or before year 9999."""
    year, month, first, last_hit = start.year, start.month, start.day, start.year
    while year - last_hit <= _GIVE_UP_YEARS and year < MAXYEAR:
        if month in spec.months:
            for day in _month_days(spec, year, month):
                if day >= first:
                    last_hit = year
                    yield date(year, month, day)
        year, month, first = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)


def _gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant after the spring-forward gap that swallows `wall` (a time that does not exist)."""
    before = int(wall.replace(tzinfo=tz, fold=1).timestamp())  # read with the later offset: before the jump
    after = int(wall.replace(tzinfo=tz, fold=0).timestamp())  # read with the earlier offset: after the jump
    offset = datetime.fromtimestamp(after, tz).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, tz)


def _resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant a wall-clock time fires at: its first occurrence, or the end of the gap it falls in."""
    aware = wall.replace(tzinfo=tz)
    if aware.astimezone(_UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return aware
    return _gap_end(wall, tz)


def _runs_on(spec: CronSpec, day: date, tz: ZoneInfo, last: datetime) -> Iterator[datetime]:
    """Fire times on local `day` strictly after the UTC instant `last`, in increasing order."""
    hours, minutes = sorted(spec.hours), sorted(spec.minutes)
    offset = datetime.combine(day, time(), tz).utcoffset()
    if offset == datetime.combine(day + timedelta(days=1), time(), tz).utcoffset():
        # Same offset at both midnights: no clock change today (no zone changes twice in a day), so
        # every wall time exists once, and we can skip straight past `last` instead of resolving each.
        threshold = (last + offset).replace(tzinfo=None)
        if threshold.date() > day:
            return
        floor_hour, floor_minute = (threshold.hour, threshold.minute) if threshold.date() == day else (-1, -1)
        for hour in hours[bisect_left(hours, floor_hour):]:
            first = bisect_right(minutes, floor_minute) if hour == floor_hour else 0
            for minute in minutes[first:]:
                yield datetime.combine(day, time(hour, minute), tz)
        return
    for hour in hours:
        for minute in minutes:
            run = _resolve(datetime.combine(day, time(hour, minute)), tz)
            if run.astimezone(_UTC) > last:
                last = run.astimezone(_UTC)
                yield run


def _iter_runs(spec: CronSpec, after: datetime, tz: ZoneInfo) -> Iterator[datetime]:
    if after.utcoffset() is None:
        raise ValueError("after must be a timezone-aware datetime")
    last = after.astimezone(_UTC)
    start = last.astimezone(tz).date()
    # Start a day early: a gap crossing midnight moves the previous day's times into this one.
    for day in _matching_days(spec, start - timedelta(days=1) if start > date.min else start):
        for run in _runs_on(spec, day, tz, last):
            last = run.astimezone(_UTC)
            yield run


def next_runs(spec: CronSpec, after: datetime, tz: ZoneInfo, count: int) -> list[datetime]:
    """The next `count` fire times strictly after the aware `after`, as aware datetimes in `tz`."""
    runs: list[datetime] = []
    if count > 0:
        for run in _iter_runs(spec, after, tz):
            runs.append(run)
            if len(runs) == count:
                break
    return runs


def next_run(spec: CronSpec, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The next fire time strictly after `after`, or None if the search gave up."""
    runs = next_runs(spec, after, tz, 1)
    return runs[0] if runs else None


def _join(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def _compact(values: frozenset[int], names: tuple[str, ...] = (), low: int = 0) -> list[str]:
    """Sorted values with runs of three or more shown as ranges: {1,2,3,5} -> ['1-3', '5']."""
    runs: list[list[int]] = []
    for value in sorted(values):
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    label = (lambda value: names[value - low]) if names else str
    parts: list[str] = []
    for run in runs:
        parts.extend([f"{label(run[0])}-{label(run[-1])}"] if len(run) > 2 else [label(v) for v in run])
    return parts


def _step(values: frozenset[int], size: int) -> int | None:
    """The step S when the values are exactly `*/S` and S divides the field evenly, else None."""
    step = min(values - {0}, default=0)
    return step if step > 1 and size % step == 0 and values == frozenset(range(0, size, step)) else None


def _times_phrase(spec: CronSpec) -> tuple[str, bool]:
    """The times of day, and whether they read as a frequency ('Every 2 hours') rather than 'at 09:00'."""
    minutes, hours = sorted(spec.minutes), sorted(spec.hours)
    minute_step, hour_step = _step(spec.minutes, 60), _step(spec.hours, 24)
    at_minute = f" at minute {minutes[0]}" if minutes != [0] else ""
    if len(hours) == 24:
        if len(minutes) == 60 or minute_step:
            return ("Every minute" if len(minutes) == 60 else f"Every {minute_step} minutes"), True
        if len(minutes) == 1:
            return "Every hour" + at_minute, True
        return f"Every hour at minutes {','.join(_compact(spec.minutes))}", True
    if hour_step and len(minutes) == 1:
        return f"Every {hour_step} hours{at_minute}", True
    if len(hours) * len(minutes) <= 4:
        return "at " + _join([f"{hour:02}:{minute:02}" for hour in hours for minute in minutes]), False
    if len(minutes) == 60 or minute_step:
        minute_text = "every minute" if len(minutes) == 60 else f"every {minute_step} minutes"
    else:
        minute_text = ("minute " if len(minutes) == 1 else "minutes ") + ",".join(_compact(spec.minutes))
    hour_text = ("hour " if len(hours) == 1 else "hours ") + ",".join(_compact(spec.hours))
    return f"at {minute_text} past {hour_text}", False


def _weekdays_text(weekdays: frozenset[int]) -> str:
    if weekdays == frozenset(range(1, 6)):
        return "weekdays"
    if weekdays == frozenset({0, 6}):
        return "weekends"
    return _join([_WEEKDAYS[day] + "s" for day in sorted(weekdays, key=lambda day: (day + 6) % 7)])


def _days_phrase(spec: CronSpec) -> str:
    """Which days, as 'weekdays', 'day 1 of the month', ..., or '' for every day."""
    either = spec.days_restricted and spec.weekdays_restricted
    all_days, all_weekdays = len(spec.days) == 31, len(spec.weekdays) == 7
    if (either and (all_days or all_weekdays)) or (all_days and all_weekdays):
        return ""
    days = ("day " if len(spec.days) == 1 else "days ") + ",".join(_compact(spec.days)) + " of the month"
    if either:
        return f"{days} or on {_weekdays_text(spec.weekdays)}"
    return days if not all_days else _weekdays_text(spec.weekdays)


def describe(spec: CronSpec) -> str:
    """Short English for the UI, e.g. 'Weekdays at 09:00'; correct rather than pretty for unusual shapes."""
    times, frequency = _times_phrase(spec)
    days = _days_phrase(spec)
    months = "" if len(spec.months) == 12 else " in " + _join(_compact(spec.months, _MONTHS, 1))
    if frequency:
        return f"{times}{' on ' + days if days else ''}{months}"
    lead = "Daily" if not days else ("On " + days if days.startswith("day") else days[0].upper() + days[1:])
    return f"{lead}{months} {times}"
