"""Client of the fines registry (`FINES_API_URL`): read a fine, mark it paid."""

from __future__ import annotations

from urllib.parse import quote

from backoffice.clients.partner_http import PartnerReply, call


class FinesRegistryClient:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout

    def fine(self, numero: str) -> PartnerReply:
        """The status check: 200 with statut IMPAYEE/PAYEE and paiement_id, 404 unknown."""
        return call("GET", self.base_url, f"/amendes/{quote(numero, safe='')}", self.timeout)

    def fines_of(self, telephone: str) -> PartnerReply:
        return call("GET", self.base_url, f"/amendes?telephone={quote(telephone)}", self.timeout)

    def mark_paid(self, numero: str, paiement_id: str, amount: int) -> PartnerReply:
        payload = {"paiement_id": paiement_id, "montant": amount}
        return call("POST", self.base_url, f"/amendes/{quote(numero, safe='')}/paiements", self.timeout, payload)
