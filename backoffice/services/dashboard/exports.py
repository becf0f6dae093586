"""The dashboard's figures as CSV lines (French Excel by default)."""

from __future__ import annotations

from backoffice.models.batches import (
    BATCH_STATUS_LABELS,
    BatchStatus,
)
from backoffice.services.dashboard.figures import DashboardFigures
from backoffice.services.locale import format_percent, zone_label
from backoffice.services.mojaloop_errors import error_label
from backoffice.services.money import plain_decimal


def csv_amount(minor: int | None, currency: str, decimal_mark: str = ",") -> str:
    """Minor units as a plain decimal (no grouping) that Excel reads as a number."""
    return plain_decimal(minor, currency, decimal_mark)


def _rate(completed: int, failed: int, decimal_mark: str) -> str:
    """The same honest rounding as the page (never 100 with a failure), as a number for Excel."""
    text = format_percent(completed, completed + failed)
    return "" if text == "—" else text.replace("\u00a0%", "").replace(",", decimal_mark)


def figures_csv_rows(figures: DashboardFigures, organisation_name: str, decimal_mark: str = ",") -> list[list]:
    """The dashboard as a table: one section per block, the same figures as the page."""
    p = figures.period
    rows: list[list] = [
        ["Tableau de bord", organisation_name],
        ["Période", f"{p.start.isoformat()} au {p.end.isoformat()}", f"jours en {zone_label(p.timezone)}"],
        [],
        ["Indicateur", "Devise", "Valeur"],
    ]
    for currency in figures.currencies:
        rows.append(["Montant versé", currency, csv_amount(figures.amounts.get(currency, 0), currency, decimal_mark)])
        rows.append(["Frais", currency, csv_amount(figures.fees.get(currency, 0), currency, decimal_mark)])
    rows += [
        ["Paiements réussis", "", figures.completed],
        ["Paiements échoués", "", figures.failed],
        ["Taux de réussite (%)", "", _rate(figures.completed, figures.failed, decimal_mark)],
        ["Bénéficiaires payés", "", figures.beneficiaries],
        ["Amendes encaissées (nombre)", "", figures.fines["collected_count"]],
        *[
            ["Amendes encaissées (montant)", c, csv_amount(a, c, decimal_mark)]
            for c, a in sorted(figures.fines["collected"].items())
        ],
        ["Amendes remboursées (nombre)", "", figures.fines["refunded_count"]],
        *[
            ["Amendes remboursées (montant)", c, csv_amount(a, c, decimal_mark)]
            for c, a in sorted(figures.fines["refunded"].items())
        ],
        [],
        ["Lots par état", "État", "Nombre"],
    ]
    for status, count in figures.batches_by_status.items():
        rows.append(["", BATCH_STATUS_LABELS[BatchStatus(status)], count])
    rows += [[], ["Échecs par code", "Code", "Motif", "Nombre", "Description reçue"]]
    for reason in figures.failures:
        rows.append(["", reason.code, error_label(reason.code, reason.description), reason.count, reason.description])
    rows += [[], ["Fournisseurs", "Identifiant FSP", "Nom", "Réussis", "Échoués", "Devise", "Montant versé"]]
    for provider in figures.providers:
        for currency in sorted(provider.amounts) or [""]:
            amount = provider.amounts.get(currency)
            rows.append(
                [
                    "",
                    provider.fsp_id,
                    provider.name,
                    provider.completed,
                    provider.failed,
                    currency,
                    csv_amount(amount, currency, decimal_mark) if currency else "",
                ]
            )
    rows += [[], ["Par jour", "Date", "Réussis", "Échoués", "Devise", "Montant versé"]]
    for d in figures.days:
        for currency in sorted(d.amounts) or [""]:
            amount = d.amounts.get(currency)
            rows.append(
                [
                    "",
                    d.day.isoformat(),
                    d.completed,
                    d.failed,
                    currency,
                    csv_amount(amount, currency, decimal_mark) if currency else "",
                ]
            )
    return rows
