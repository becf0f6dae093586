"""Local time and French formats: every date, time and number a person reads goes through here.

Timestamps are stored as naive UTC (models/base.py). They are shown in the organisation's
time zone (`Organisation.timezone`, e.g. Africa/Porto-Novo for CNSS Bénin, UTC+1) and
formatted by Babel in the `fr` locale, never by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

LOCALE = "fr"
DEFAULT_TIMEZONE = "Africa/Porto-Novo"
# The zones offered when an organisation is created or edited: West and North Africa first.
COMMON_TIMEZONES = (
    "Africa/Porto-Novo",
    "Africa/Nouakchott",
    "Africa/Abidjan",
    "Africa/Dakar",
    "Africa/Bamako",
    "Africa/Ouagadougou",
    "Africa/Niamey",
    "Africa/Lome",
    "Africa/Conakry",
    "Africa/Douala",
    "Africa/Lagos",
    "Africa/Casablanca",
    "Africa/Tunis",
    "Africa/Algiers",
    "UTC",
)

FR = Locale.parse(LOCALE)
# Babel's own symbols for fr: a narrow no-break space groups thousands.
GROUP = babel_numbers.get_group_symbol(LOCALE)

DATE = "dd/MM/y"
DATETIME = "dd/MM/y HH:mm"
DATETIME_SECONDS = "dd/MM/y HH:mm:ss"


@lru_cache(maxsize=64)
def zone(name: str | None) -> tzinfo:
    """The ZoneInfo of a zone name; the default zone for an empty or unknown name."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def is_timezone(name: str) -> bool:
    """Whether `name` is an IANA zone this machine knows (tzdata)."""
    return name in _known_zones()


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def to_local(value: datetime, tz: str | None) -> datetime:
    """A stored naive-UTC timestamp as an aware datetime in zone `tz`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone(tz))


def local_now(tz: str | None) -> datetime:
    return datetime.now(UTC).astimezone(zone(tz))


def local_today(tz: str | None) -> date:
    """Today's date where the organisation is (not in UTC: Cotonou is an hour ahead)."""
    return local_now(tz).date()


def utc_bounds(start: date, end_exclusive: date, tz: str | None) -> tuple[datetime, datetime]:
    """Naive-UTC instants of local midnight on `start` and on `end_exclusive`, to filter stored times."""

    def midnight(day: date) -> datetime:
        local = datetime.combine(day, datetime.min.time(), tzinfo=zone(tz))
        return local.astimezone(UTC).replace(tzinfo=None)

    return midnight(start), midnight(end_exclusive)


def utc_offset_minutes(tz: str | None, at: datetime | None = None) -> int:
    """The zone's offset from UTC in minutes (fixed for the African zones we serve: no DST)."""
    offset = (at or datetime.now(UTC)).astimezone(zone(tz)).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def format_datetime(value: datetime | None, tz: str | None, seconds: bool = False) -> str:
    """`01/12/2026 10:38` in the organisation's zone; `—` for nothing."""
    if value is None:
        return "—"
    return _date_pattern(DATETIME_SECONDS if seconds else DATETIME).apply(to_local(value, tz), FR)


@lru_cache(maxsize=32)
def _date_pattern(pattern: str):
    """Parsed once: Babel parses a pattern on every call otherwise (a page prints hundreds)."""
    return babel_dates.parse_pattern(pattern)


@lru_cache(maxsize=32)
def _number_pattern(pattern: str):
    return babel_numbers.parse_pattern(pattern)


def format_time(value: datetime | None, tz: str | None) -> str:
    if value is None:
        return "—"
    return babel_dates.format_time(to_local(value, tz), "HH:mm:ss", locale=LOCALE)


def format_iso_local(value: datetime | None, tz: str | None) -> str:
    """`2026-12-01 10:38:05` in the zone: what exports write (their header names the zone)."""
    if value is None:
        return ""
    # A machine format, the same in every locale: no Babel here (100 000 rows of an export).
    return to_local(value, tz).strftime("%Y-%m-%d %H:%M:%S")


def format_date(value: date | datetime | None, fmt: str = DATE, tz: str | None = None) -> str:
    """A calendar day: `01/12/2026`, or `long` → `1 décembre 2026`, `MMMM y` → `décembre 2026`."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = to_local(value, tz).date()
    return babel_dates.format_date(value, fmt, locale=LOCALE)


def format_number(value: int | float | None, decimals: int | None = None) -> str:
    """`26 991` (narrow no-break space), `1 234,5`; `—` for nothing."""
    if value is None:
        return "—"
    if decimals is None and isinstance(value, int):
        # The common case (counts), with Babel's group symbol, without its pattern machinery.
        return f"{value:,}".replace(",", GROUP)
    pattern = "#,##0.###" if decimals is None else "#,##0" + ("." + "0" * decimals if decimals else "")
    return _number_pattern(pattern).apply(value, FR)


def format_percent(part: int, whole: int, decimals: int = 1) -> str:
    """`98,7 %`; never `100 %` while part < whole, never `0 %` while part > 0 (rounded towards honesty)."""
    if not whole:
        return "—"
    ratio = part / whole
    step = 10**decimals * 100
    if 0 < part < whole:
        # Truncate rather than round, then keep one step away from both ends.
        ratio = min(max(int(ratio * step) / step, 1 / step), 1 - 1 / step)
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "") + "\u00a0%"
    return babel_numbers.format_percent(ratio, format=pattern, locale=LOCALE)


def zone_label(tz: str | None) -> str:
    """`heure de Porto-Novo (UTC+01:00)`: what pages and export headers say about their times."""
    name = tz or DEFAULT_TIMEZONE
    if name == "UTC":
        return "heure UTC"
    city = babel_dates.get_timezone_location(name, locale=LOCALE, return_city=True)
    gmt = babel_dates.get_timezone_gmt(local_now(name), locale=LOCALE)
    article = "d’" if city[:1].lower() in "aeiouyéèêh" else "de "
    return f"heure {article}{city} ({gmt})"


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, f"{name} — {zone_label(name)}") for name in COMMON_TIMEZONES]


def plural(count: int | None, singular: str, plural_form: str | None = None, with_count: bool = True) -> str:
    """`1 ligne invalide`, `0 ligne`, `3 lignes invalides` (French: 0 and 1 take the singular)."""
    n = count or 0
    word = singular if abs(n) < 2 else (plural_form or _pluralise(singular))
    return f"{format_number(n)}\u00a0{word}" if with_count else word


def _pluralise(phrase: str) -> str:
    """Adds the plural mark to each word of a simple phrase (`ligne invalide` → `lignes invalides`)."""
    words = []
    for word in phrase.split(" "):
        if not word or word[-1] in "sxz" or word in {"à", "de", "du", "d’", "en", "par", "sur"}:
            words.append(word)
        elif word.endswith("al"):
            words.append(word[:-2] + "aux")
        elif word.endswith(("eau", "eu")):
            words.append(word + "x")
        else:
            words.append(word + "s")
    return " ".join(words)


def format_duration(seconds: int | float | None) -> str:
    """`2 min 05 s`, `1 h 03 min`, `12 s` (short units, as French dashboards write them)."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}\u00a0h\u00a0{minutes:02d}\u00a0min"
    if minutes:
        return f"{minutes}\u00a0min\u00a0{secs:02d}\u00a0s"
    return f"{secs}\u00a0s"


def timezone_of(user, fallback: str = DEFAULT_TIMEZONE) -> str:
    """The zone a person reads times in: their organisation's; platform admins get `fallback`."""
    organisation = getattr(user, "organisation", None)
    return getattr(organisation, "timezone", None) or fallback
