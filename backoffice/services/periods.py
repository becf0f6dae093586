"""Periods of days the pages filter on: this month, a from/to pair typed by a person, one day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from backoffice.models.base import utcnow

MAX_PERIOD_DAYS = 366 * 2


@dataclass(frozen=True)
class Period:
    """Days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time())

    @property
    def end_before(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), datetime.min.time())

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def this_month(today: date | None = None) -> Period:
    today = today or utcnow().date()
    return Period(today.replace(day=1), today)


def parse_period(date_from: str | None, date_to: str | None, today: date | None = None) -> tuple[Period, str | None]:
    """The period asked for in the query string, or this month with a French message when unreadable."""
    default = this_month(today)
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
    return Period(start, end), None


def as_date(value) -> date:
    """SQLite returns `date()` as text, PostgreSQL as a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def parse_day(text: str | None) -> date | None:
    """A `YYYY-MM-DD` filter value, or None when empty or unreadable."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
