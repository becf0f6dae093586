"""Periods of days the pages filter on: this month, a from/to pair typed by a person, one day.

Days are calendar days in the organisation's time zone: a period's instants (`start_at`,
`end_before`) are the naive-UTC times of its local midnights, to compare with stored times.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from backoffice.services.locale import local_today, utc_bounds

MAX_PERIOD_DAYS = 366 * 2


@dataclass(frozen=True)
class Period:
    """Days from `start` to `end`, both included."""

    start: date
    end: date
    timezone: str = "UTC"

    @property
    def start_at(self) -> datetime:
        return utc_bounds(self.start, self.end + timedelta(days=1), self.timezone)[0]

    @property
    def end_before(self) -> datetime:
        return utc_bounds(self.start, self.end + timedelta(days=1), self.timezone)[1]

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def this_month(today: date | None = None, timezone: str = "UTC") -> Period:
    """The whole calendar month of `today` (by default today where the organisation is)."""
    today = today or local_today(timezone)
    last = calendar.monthrange(today.year, today.month)[1]
    return Period(today.replace(day=1), today.replace(day=last), timezone)


def parse_period(
    date_from: str | None, date_to: str | None, today: date | None = None, timezone: str = "UTC"
) -> tuple[Period, str | None]:
    """The period asked for in the query string, or this month with a French message when unreadable."""
    default = this_month(today, timezone)
    if not date_from and not date_to:
        return default, None
    try:
        start = date.fromisoformat(date_from) if date_from else default.start
        end = date.fromisoformat(date_to) if date_to else max(start, default.end)
    except ValueError:
        return default, "Dates illisibles : la période du mois en cours est affichée."
    if end < start:
        return default, "La date de fin précède la date de début : la période du mois en cours est affichée."
    if (end - start).days > MAX_PERIOD_DAYS:
        return default, "Période trop longue (deux ans au plus) : la période du mois en cours est affichée."
    return Period(start, end, timezone), None


def as_date(value) -> date:
    """SQLite returns `date()` as text, PostgreSQL as a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def parse_day(text: str | None) -> date | None:
    """A `YYYY-MM-DD` filter value, or None when empty or unreadable."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
