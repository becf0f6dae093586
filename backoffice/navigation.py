"""The navigation bar: one list, filtered by role."""

from __future__ import annotations

from flask import url_for

# (label, endpoint, who sees it): "member" = gestionnaires and superviseurs, "admin" = platform staff.
NAVIGATION: list[tuple[str, str, str]] = [
    ("Accueil", "main.index", "member"),
    ("Tableau de bord", "dashboards.index", "member"),
    ("Paiements groupés", "batches.index", "member"),
    ("Listes de bénéficiaires", "lists.index", "member"),
    ("Amendes", "fines.payments", "member"),
    ("Comptes", "accounts.index", "member"),
    ("Journal d'audit", "audit.index", "member"),
    ("Organisations", "admin.organisations", "admin"),
    ("Utilisateurs", "admin.users", "admin"),
    ("Comptes payeurs", "admin.accounts", "admin"),
    ("Approvisionnements", "admin.top_ups", "admin"),
    ("Fournisseurs", "providers.index", "admin"),
    ("Clients API", "fines.api_clients", "admin"),
    ("Amendes à vérifier", "fines.review_queue", "admin"),
    ("Journal d'audit", "audit.index", "admin"),
]


def navigation_for(user) -> list[dict]:
    """Entries the user may see."""
    if not user.is_authenticated:
        return []
    audience = "admin" if user.is_admin else "member"
    return [
        {"label": label, "endpoint": endpoint, "url": url_for(endpoint)}
        for label, endpoint, who in NAVIGATION
        if who == audience
    ]
