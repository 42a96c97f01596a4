"""Cron parsing, fire times (with the DST rules the module promises) and descriptions.

croniter is a test-only oracle: the property tests check that our fire times are croniter's except
exactly where our documented daylight-saving rules deliberately differ from it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.cron import CronError, CronSpec, describe, next_run, next_runs, parse, zone

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = (ZoneInfo("UTC"), BERLIN, NEW_YORK)


def runs(expression: str, after: datetime, tz: ZoneInfo, count: int) -> list[datetime]:
    return next_runs(parse(expression), after, tz, count)


# --- parsing -------------------------------------------------------------------------------------

def test_parse_gives_value_sets_and_normalised_expression() -> None:
    assert parse("  0   9 * *\t1-5 ") == CronSpec(
        "0 9 * * 1-5", frozenset({0}), frozenset({9}), frozenset(range(1, 32)), frozenset(range(1, 13)),
        frozenset(range(1, 6)), days_restricted=False, weekdays_restricted=True)


@pytest.mark.parametrize(("expression", "field", "values"), [
    ("0 9 * JAN,mar MON-fri", "months", {1, 3}),
    ("0 9 * JAN,mar MON-fri", "weekdays", {1, 2, 3, 4, 5}),
    ("0 0 * * 5-7", "weekdays", {5, 6, 0}),
    ("0 0 * * 7", "weekdays", {0}),
    ("0 0 * * sun", "weekdays", {0}),
    ("0 0 * * 1/2", "weekdays", {1, 3, 5}),
    ("0 0 * * */3", "weekdays", {0, 3, 6}),
    ("10/20 * * * *", "minutes", {10, 30, 50}),
    ("59/15 * * * *", "minutes", {59}),
    ("5-20/5,40 * * * *", "minutes", {5, 10, 15, 20, 40}),
    ("0 */6 * * *", "hours", {0, 6, 12, 18}),
    ("0 0 1-31/10 * *", "days", {1, 11, 21, 31}),
    ("0 0 * 2/5 *", "months", {2, 7, 12}),
])
def test_parse_items_and_names(expression: str, field: str, values: set[int]) -> None:
    assert getattr(parse(expression), field) == frozenset(values)


@pytest.mark.parametrize(("macro", "equivalent"), [
    ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"), ("@weekly", "0 0 * * 0"),
    ("@DAILY", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *"),
])
def test_macros(macro: str, equivalent: str) -> None:
    assert parse(macro) == replace(parse(equivalent), expression=macro.lower())


@pytest.mark.parametrize(("expression", "days_restricted", "weekdays_restricted"), [
    ("0 0 * * *", False, False),
    ("0 0 13 * *", True, False),
    ("0 0 * * 5", False, True),
    ("0 0 13 * 5", True, True),
    # croniter 7: '*/2' is restricted; a whole-range field is not when the other one contains a '*'.
    ("0 0 */2 * 1", True, True),
    ("0 0 */2 * */1", True, False),
    ("0 0 13 * */1", True, True),
    ("0 0 *,5 * 1", False, True),
])
def test_day_fields_restricted(expression: str, days_restricted: bool, weekdays_restricted: bool) -> None:
    spec = parse(expression)
    assert (spec.days_restricted, spec.weekdays_restricted) == (days_restricted, weekdays_restricted)


@pytest.mark.parametrize(("expression", "message"), [
    ("61 * * * *", "minute 61 is out of range 0-59"),
    ("0 24 * * *", "hour 24 is out of range 0-23"),
    ("0 0 0 * *", "day-of-month 0 is out of range 1-31"),
    ("0 0 1 13 *", "month 13 is out of range 1-12"),
    ("0 0 * * 8", "day-of-week 8 is out of range 0-7"),
    ("0 0 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 6"),
    ("0 0 * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"),
    ("*/0 * * * *", "step 0 in minute is not allowed"),
    ("0 5-1 * * *", "range 5-1 in hour is backwards"),
    ("0 0 * * fri-mon", "range fri-mon in day-of-week is backwards"),
    ("0 0 * * abc", "'abc' in day-of-week is not a number or name"),
    ("0 0 L * *", "'L' in day-of-month is not a number or name"),
    ("0 0 * * 1#2", "'1#2' in day-of-week is not a number or name"),
    ("0 jan * * *", "'jan' in hour is not a number or name"),
    ("*/x * * * *", "step 'x' in minute is not a number"),
    ("1,,2 * * * *", "empty list item in minute"),
    ("", "empty expression"),
    ("  \t ", "empty expression"),
    ("0 0 31 2 *", "day-of-month 31 never occurs in February"),
    ("0 0 30 2 *", "day-of-month 30 never occurs in February"),
    ("0 0 30,31 2 *", "day-of-month 30,31 never occurs in February"),
    ("0 0 31 4,6 *", "day-of-month 31 never occurs in April or June"),
])
def test_parse_errors_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        parse(expression)
    assert str(caught.value) == message


def test_unknown_macros_are_refused() -> None:
    for macro in ("@reboot", "@often"):
        with pytest.raises(CronError, match=f"^unknown macro '{macro}'"):
            parse(macro)


def test_rare_but_possible_days_are_valid() -> None:
    parse("0 0 29 2 *")
    parse("0 0 31 1,2 *")
    parse("0 0 31 2 5")  # either rule: Fridays in February


# --- time zones ----------------------------------------------------------------------------------

def test_zone_accepts_iana_names() -> None:
    assert zone("Europe/Berlin") == BERLIN
    assert zone("America/New_York").key == "America/New_York"
    assert zone("UTC").key == "UTC"


@pytest.mark.parametrize("name", [
    "Mars/Base", "", "/etc/localtime", "../etc/passwd", "Europe/../Europe/Berlin", "Europe", "localtime",
    "Europe/Berlin ", "a\0b",
])
def test_zone_refuses_other_names(name: str) -> None:
    with pytest.raises(CronError) as caught:
        zone(name)
    assert str(caught.value) == f"unknown time zone {name!r}"


def test_zone_message() -> None:
    with pytest.raises(CronError, match=r"^unknown time zone 'Mars/Base'$"):
        zone("Mars/Base")


# --- fire times ----------------------------------------------------------------------------------

def test_weekdays_at_nine() -> None:
    result = runs("0 9 * * 1-5", datetime(2026, 6, 1, tzinfo=UTC), BERLIN, 30)
    assert all(run.weekday() < 5 and (run.hour, run.minute) == (9, 0) for run in result)
    assert len({run.date() for run in result}) == 30
    assert result[0] == datetime(2026, 6, 1, 9, 0, tzinfo=BERLIN)
    assert all(run.tzinfo is BERLIN for run in result)


@pytest.mark.parametrize("expression", ["30 14 * * 0", "30 14 * * 7", "30 14 * * SUN"])
def test_sunday_is_zero_and_seven(expression: str) -> None:
    result = runs(expression, datetime(2026, 1, 1, tzinfo=UTC), NEW_YORK, 10)
    assert all(run.weekday() == 6 and (run.hour, run.minute) == (14, 30) for run in result)
    assert [run - result[0] for run in result] == [timedelta(weeks=week) for week in range(10)]


def test_every_two_hours() -> None:
    result = runs("0 */2 * * *", datetime(2026, 6, 1, 3, 0, tzinfo=UTC), UTC, 5)
    assert [run.hour for run in result] == [4, 6, 8, 10, 12]


def test_two_times_a_day() -> None:
    result = runs("15 8,20 * * *", datetime(2026, 6, 1, 12, tzinfo=UTC), UTC, 4)
    expected = [(1, 20, 15), (2, 8, 15), (2, 20, 15), (3, 8, 15)]
    assert [(run.day, run.hour, run.minute) for run in result] == expected


def test_leap_day_only_in_leap_years() -> None:
    result = runs("0 0 29 2 *", datetime(2026, 1, 1, tzinfo=UTC), UTC, 3)
    assert result == [datetime(year, 2, 29, tzinfo=UTC) for year in (2028, 2032, 2036)]


def test_strictly_after() -> None:
    spec = parse("0 9 * * *")
    today, tomorrow = datetime(2026, 6, 1, 9, 0, tzinfo=BERLIN), datetime(2026, 6, 2, 9, 0, tzinfo=BERLIN)
    assert next_run(spec, today, BERLIN) == tomorrow
    assert next_run(spec, today - timedelta(microseconds=1), BERLIN) == today
    assert next_run(spec, datetime(2026, 6, 1, 7, 0, tzinfo=UTC), BERLIN) == tomorrow  # 09:00 CEST itself


def test_either_day_rule() -> None:
    result = runs("0 0 13 * 5", datetime(2026, 1, 1, tzinfo=UTC), UTC, 40)
    days = [date(2026, 1, 1) + timedelta(days=offset) for offset in range(400)]
    expected = [day for day in days if day.day == 13 or day.weekday() == 4][:40]
    assert [run.date() for run in result] == expected
    assert any(day.day == 13 and day.weekday() != 4 for day in expected)
    assert any(day.day != 13 and day.weekday() == 4 for day in expected)


def test_spring_forward_fires_once_after_the_gap() -> None:
    result = runs("0 2 * * *", datetime(2026, 3, 28, 12, tzinfo=BERLIN), BERLIN, 3)
    assert result == [datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN), datetime(2026, 3, 30, 2, 0, tzinfo=BERLIN),
                      datetime(2026, 3, 31, 2, 0, tzinfo=BERLIN)]
    assert result[0].utcoffset() == timedelta(hours=2)  # CEST
    assert result[0].astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_spring_forward_collapses_times_in_the_gap() -> None:
    result = runs("0,30 2,3 * * *", datetime(2026, 3, 29, tzinfo=BERLIN), BERLIN, 3)
    assert [run.isoformat() for run in result] == [
        "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:00:00+02:00"]


def test_every_quarter_hour_across_the_gap() -> None:
    result = runs("*/15 * * * *", datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN), BERLIN, 16)
    instants = [run.astimezone(UTC) for run in result]
    assert instants == sorted(set(instants))
    assert not any(run.date() == date(2026, 3, 29) and run.hour == 2 for run in result)
    assert [run.strftime("%H:%M%z") for run in result[5:8]] == ["01:30+0100", "01:45+0100", "03:00+0200"]


def test_fall_back_fires_once_at_the_first_occurrence() -> None:
    result = runs("30 1 * * *", datetime(2026, 10, 31, 12, tzinfo=NEW_YORK), NEW_YORK, 2)
    assert result[0] == datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)
    assert (result[0].fold, result[0].utcoffset()) == (0, timedelta(hours=-4))  # EDT
    assert result[1].date() == date(2026, 11, 2)


def test_fall_back_fires_every_wall_clock_time_once() -> None:
    result = runs("*/15 * * * *", datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK), NEW_YORK, 12)
    walls = [run.replace(tzinfo=None) for run in result]
    assert walls == [datetime(2026, 11, 1, 0, 15) + timedelta(minutes=15 * step) for step in range(12)]
    assert all(run.fold == 0 for run in result)
    assert result[7].strftime("%H:%M%z") == "02:00-0500"
    # From inside the second pass through the repeated hour, 01:30 has already fired.
    second_pass = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST
    assert next_run(parse("30 1 * * *"), second_pass, NEW_YORK) == datetime(2026, 11, 2, 1, 30, tzinfo=NEW_YORK)


def test_count_and_bounds() -> None:
    spec = parse("0 0 29 2 *")
    assert next_runs(spec, datetime(2026, 1, 1, tzinfo=UTC), UTC, 0) == []
    assert next_run(spec, datetime(9997, 1, 1, tzinfo=UTC), UTC) is None  # no Feb 29 before year 9999
    with pytest.raises(ValueError):
        next_run(spec, datetime(2026, 1, 1), UTC)


# --- descriptions --------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "text"), [
    ("0 9 * * 1-5", "Weekdays at 09:00"),
    ("30 14 * * 0", "Sundays at 14:30"),
    ("0 */2 * * *", "Every 2 hours"),
    ("15 8,20 * * *", "Daily at 08:15 and 20:15"),
    ("* * * * *", "Every minute"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("0 * * * *", "Every hour"),
    ("0 0 * * 6,0", "Weekends at 00:00"),
    ("0 9 * * 1,3,5", "Mondays, Wednesdays and Fridays at 09:00"),
    ("0 9 1 * *", "On day 1 of the month at 09:00"),
    ("0 9 * 1 *", "Daily in January at 09:00"),
    ("5,35 1-5 * * *", "Daily at minutes 5,35 past hours 1-5"),
    ("0,30 9 1-15 * 1", "On days 1-15 of the month or on Mondays at 09:00 and 09:30"),
    ("15 * * * *", "Every hour at minute 15"),
    ("*/10 * * * 1-5", "Every 10 minutes on weekdays"),
    ("30 */6 * 1-3,12 *", "Every 6 hours at minute 30 in January-March and December"),
    ("@weekly", "Sundays at 00:00"),
])
def test_describe(expression: str, text: str) -> None:
    assert describe(parse(expression)) == text


# --- property test against croniter ----------------------------------------------------------------

def _item(low: int, high: int, star_high: int, names: tuple[str, ...]) -> st.SearchStrategy[str]:
    def show(number: int, as_name: bool) -> str:
        return names[number - low] if as_name and number - low < len(names) else str(number)

    number = st.integers(low, high)
    value = st.builds(show, number, st.booleans())
    pair = st.tuples(number, number).filter(lambda pair: pair[0] < pair[1])  # croniter widens 'A-A' to '*'
    span = st.builds(lambda pair, as_name: f"{show(pair[0], as_name)}-{show(pair[1], as_name)}",
                     pair, st.booleans())
    step = st.integers(1, star_high - low + 2)
    return st.one_of(
        value,
        span,
        st.builds(lambda span, step: f"{span}/{step}", span, step),
        step.map(lambda size: f"*/{size}"),
        # croniter reads day-of-week '7/S' as '0-6/S'; we read it as Sunday.
        st.tuples(st.integers(low, star_high), step).map(lambda item: f"{item[0]}/{item[1]}"),
    )


def _field(low: int, high: int, star_high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    item = _item(low, high, star_high, names)
    return st.one_of(st.just("*"), item, st.lists(item, min_size=2, max_size=4).map(",".join))


MINUTES, HOURS = _field(0, 59, 59), _field(0, 23, 23)
EXPRESSIONS = st.tuples(
    MINUTES, HOURS, _field(1, 31, 31),
    _field(1, 12, 12, ("jan", "Feb", "MAR", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    _field(0, 7, 6, ("sun", "MON", "tue", "Wed", "thu", "fri", "sat")),
).map(" ".join)
UNIFORM = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC))


def _transitions(tz: ZoneInfo) -> tuple[datetime, ...]:
    """Instants in 2025-2028 where the zone's UTC offset changes."""
    hours = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=hour) for hour in range(4 * 8784)]
    return tuple(later for earlier, later in zip(hours, hours[1:])
                 if earlier.astimezone(tz).utcoffset() != later.astimezone(tz).utcoffset())


def _near_transition(tz: ZoneInfo) -> st.SearchStrategy[datetime]:
    """A start a little before one of the zone's own clock changes, so the runs cross it."""
    return st.builds(lambda instant, minutes: instant + timedelta(minutes=minutes),
                     st.sampled_from(_transitions(tz)), st.integers(-5 * 60, 30))


ZONED_STARTS = st.one_of(
    st.tuples(st.sampled_from(ZONES), UNIFORM),
    *(st.tuples(st.just(tz), _near_transition(tz)) for tz in (BERLIN, NEW_YORK)),
)


def _matches(spec: CronSpec, wall: datetime) -> bool:
    """Whether a wall-clock time is one the expression names (independently of the module's search)."""
    weekday = (wall.weekday() + 1) % 7
    in_days, in_weekdays = wall.day in spec.days, weekday in spec.weekdays
    either = spec.days_restricted and spec.weekdays_restricted
    day_ok = (in_days or in_weekdays) if either else (in_days and in_weekdays)
    return (wall.second == 0 and wall.minute in spec.minutes and wall.hour in spec.hours
            and wall.month in spec.months and day_ok)


def _is_second_occurrence(run: datetime) -> bool:
    return run.fold == 1 and run.utcoffset() != run.replace(fold=0).utcoffset()


def _gap_substitute(spec: CronSpec, run: datetime, tz: ZoneInfo) -> bool:
    """Whether `run` is the first instant after a spring-forward gap that swallowed a matching time."""
    before = (run.astimezone(UTC) - timedelta(seconds=1)).astimezone(tz)
    jump = run.utcoffset() - before.utcoffset()
    if jump <= timedelta(0):
        return False
    wall = run.replace(tzinfo=None)
    gap = [wall - jump + timedelta(minutes=minute) for minute in range(int(jump.total_seconds()) // 60)]
    return any(_matches(spec, missing) for missing in gap)


def _key(run: datetime) -> tuple[object, ...]:
    return run.year, run.month, run.day, run.hour, run.minute, run.second, run.utcoffset()


def _compare_with_croniter(expression: str, start: datetime, tz: ZoneInfo, count: int) -> None:
    """Our next `count` runs are croniter's, except exactly where our documented DST rules differ."""
    start = start.replace(microsecond=0)
    try:
        spec = parse(expression)
    except CronError as error:  # only a day that never occurs may be refused; croniter finds no date either
        assert "never occurs" in str(error)
        with pytest.raises(Exception, match="failed to find"):
            croniter(expression, start.astimezone(tz)).get_next(datetime)
        return
    ours = next_runs(spec, start, tz, count)
    oracle = croniter(expression, start.astimezone(tz))
    theirs = [oracle.get_next(datetime) for _ in range(count)]
    assert len(ours) == count and all(run.tzinfo is tz and run.fold == 0 for run in ours)
    instants = [run.astimezone(UTC) for run in ours]
    assert instants[0] > start and all(earlier < later for earlier, later in zip(instants, instants[1:]))
    # Ours may name a time that does not match only as the first instant after a spring-forward gap.
    substitutes = {_key(run) for run in ours if not _matches(spec, run)}
    assert all(_gap_substitute(spec, run, tz) for run in ours if _key(run) in substitutes)
    # croniter 7.0.0 skips a gap's times when the hour field is '*' ('30 * * * *' in Berlin on
    # 2026-03-29: 01:30, 03:30) and otherwise moves them to the end of the gap, collapsed, as we
    # always do: we promise that no matching wall-clock time is lost.
    if len(spec.hours) == 24:
        ours = [run for run in ours if _key(run) not in substitutes]
    # croniter 7.0.0 also fires the second occurrence of a repeated wall-clock time (fold=1, e.g.
    # 01:30 EST after 01:30 EDT); we promise each wall-clock time once, at its first occurrence.
    theirs = [run for run in theirs if not _is_second_occurrence(run)]
    cutoff = min(ours[-1].astimezone(UTC), theirs[-1].astimezone(UTC))
    assert ([_key(run) for run in ours if run.astimezone(UTC) <= cutoff]
            == [_key(run) for run in theirs if run.astimezone(UTC) <= cutoff])


@settings(max_examples=60, deadline=None)
@given(expression=EXPRESSIONS, zoned_start=ZONED_STARTS)
def test_fire_times_match_croniter(expression: str, zoned_start: tuple[ZoneInfo, datetime]) -> None:
    tz, start = zoned_start
    _compare_with_croniter(expression, start, tz, 1000)


@settings(max_examples=60, deadline=None)
@given(minutes=MINUTES, hours=HOURS, extra_hours=st.booleans(), tz=st.sampled_from((BERLIN, NEW_YORK)),
       data=st.data())
def test_clock_change_nights_match_croniter(minutes: str, hours: str, extra_hours: bool, tz: ZoneInfo,
                                            data: st.DataObject) -> None:
    """Every day, starting just before a clock change, with the changed hours often in the hour field."""
    if extra_hours and hours != "*":
        hours += ",1,2"
    _compare_with_croniter(f"{minutes} {hours} * * *", data.draw(_near_transition(tz)), tz, 300)
