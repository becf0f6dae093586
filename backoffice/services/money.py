"""Money as integers of the currency's minor unit: parse, print, and Mojaloop strings."""

from __future__ import annotations

import re

# ISO 4217 currencies used by our customers, with their minor-unit exponent.
CURRENCIES: dict[str, int] = {
    "XOF": 0,
    "XAF": 0,
    "GNF": 0,
    "MRU": 2,
    "MAD": 2,
    "TND": 3,
    "DZD": 2,
    "NGN": 2,
    "GHS": 2,
    "USD": 2,
    "EUR": 2,
}

CURRENCY_SYMBOLS = {"XOF": "F CFA", "XAF": "F CFA"}

NBSP = "\u202f"  # narrow no-break space, the French thousands separator

# ASCII digits only (Python's \d also matches ０-９ and ٠-٩, which int() would read).
_AMOUNT = re.compile(r"^(?P<int>\d+)(?:[.,](?P<frac>\d+))?$", re.ASCII)
MAX_AMOUNT_CHARACTERS = 40  # far above 10**18; int() of thousands of digits would raise


class AmountError(ValueError):
    """An amount that cannot be read or represented; the message is French."""


def exponent(currency: str) -> int:
    """Minor-unit exponent of a supported currency (KeyError if unsupported)."""
    return CURRENCIES[currency]


def parse_amount(text: str, currency: str) -> int:
    """Read an amount as people type it (`50 000`, `50000.00`, `1500,50`) into minor units.

    Spaces (also no-break) group thousands; `.` or `,` is the decimal mark. Decimals
    beyond the currency's exponent are refused unless they are zeros.
    """
    if currency not in CURRENCIES:
        raise AmountError(f"devise non prise en charge : {currency}")
    cleaned = re.sub(r"[\s\u00a0\u202f']", "", text or "")
    if not cleaned:
        raise AmountError("montant manquant")
    if len(cleaned) > MAX_AMOUNT_CHARACTERS:
        raise AmountError("montant trop élevé")
    if cleaned.startswith("-"):
        raise AmountError("le montant doit être positif")
    # `1.500,50` or `1,500.50`: a thousands separator followed by a decimal mark.
    if "," in cleaned and "." in cleaned:
        last = max(cleaned.rfind(","), cleaned.rfind("."))
        cleaned = re.sub(r"[.,]", "", cleaned[:last]) + "." + cleaned[last + 1 :]
    match = _AMOUNT.match(cleaned)
    if not match:
        raise AmountError(f"montant illisible : « {text.strip()} »")
    exp = CURRENCIES[currency]
    frac = (match.group("frac") or "").rstrip("0")
    if len(frac) > exp:
        if exp == 0:
            raise AmountError(f"{currency} n'a pas de centimes : « {text.strip()} »")
        raise AmountError(f"{currency} n'a que {exp} décimales : « {text.strip()} »")
    value = int(match.group("int")) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
    if value <= 0:
        raise AmountError("le montant doit être supérieur à zéro")
    if value >= 10**18:
        raise AmountError("montant trop élevé")
    return value


def format_amount(minor: int | None, currency: str, with_currency: bool = True) -> str:
    """Print minor units the French way: `50 000 F CFA`, `1 500,50 MRU`."""
    if minor is None:
        return "—"
    exp = CURRENCIES.get(currency, 2)
    sign = "-" if minor < 0 else ""
    units, frac = divmod(abs(minor), 10**exp) if exp else (abs(minor), 0)
    grouped = f"{units:,}".replace(",", NBSP)
    text = f"{sign}{grouped}" + (f",{frac:0{exp}d}" if exp else "")
    if not with_currency:
        return text
    return f"{text}{NBSP}{CURRENCY_SYMBOLS.get(currency, currency)}"


def to_mojaloop_amount(minor: int, currency: str) -> str:
    """Mojaloop's amount string: decimal, no trailing zeros (`75.5`, never `75.50`)."""
    exp = CURRENCIES[currency]
    if exp == 0:
        return str(minor)
    units, frac = divmod(minor, 10**exp)
    frac_text = f"{frac:0{exp}d}".rstrip("0")
    return f"{units}.{frac_text}" if frac_text else str(units)


def from_mojaloop_amount(text: str | None, currency: str) -> int:
    """Mojaloop amount string back to minor units (`"75.5"` MRU → 7550)."""
    if not text:
        return 0
    exp = CURRENCIES[currency]
    units, _, frac = str(text).partition(".")
    return int(units) * 10**exp + (int(frac.ljust(exp, "0")[:exp]) if exp else 0)


def plain_decimal(minor: int | None, currency: str, decimal_mark: str = ".") -> str:
    """Minor units as a plain decimal in the currency's unit, no grouping (`1500.50`, `15000`):
    what spreadsheets read as a number in exports."""
    if minor is None:
        return ""
    exp = CURRENCIES.get(currency, 2)
    if exp == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    units, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{units}{decimal_mark}{frac:0{exp}d}"
