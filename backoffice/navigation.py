"""The navigation bar: one list, filtered by role and by which areas are installed."""

from __future__ import annotations

from flask import current_app, url_for

# (label, endpoint, who sees it): "member" = gestionnaires and superviseurs, "admin" = platform staff.
NAVIGATION: list[tuple[str, str, str]] = [
    ("Accueil", "main.index", "member"),
    ("Tableau de bord", "dashboards.index", "member"),
    ("Paiements groupés", "batches.index", "member"),
    ("Listes de bénéficiaires", "dashboards.lists", "member"),
    ("Amendes", "fines.payments", "member"),
    ("Comptes", "dashboards.accounts", "member"),
    ("Journal d'audit", "dashboards.audit", "member"),
    ("Organisations", "admin.organisations", "admin"),
    ("Utilisateurs", "admin.users", "admin"),
    ("Comptes payeurs", "admin.accounts", "admin"),
    ("Fournisseurs", "dashboards.providers", "admin"),
    ("Clients API", "fines.api_clients", "admin"),
    ("Amendes à vérifier", "fines.review_queue", "admin"),
    ("Journal d'audit", "dashboards.audit", "admin"),
]


def navigation_for(user) -> list[dict]:
    """Entries the user may see, skipping areas whose endpoint is not registered."""
    if not user.is_authenticated:
        return []
    audience = "admin" if user.is_admin else "member"
    endpoints = {rule.endpoint for rule in current_app.url_map.iter_rules()}
    return [
        {"label": label, "endpoint": endpoint, "url": url_for(endpoint)}
        for label, endpoint, who in NAVIGATION
        if who == audience and endpoint in endpoints
    ]
