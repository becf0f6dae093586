"""Client of the mobile money operator (`MOMO_API_URL`): debits, refunds and their status checks."""

from __future__ import annotations

from backoffice.clients.partner_http import PartnerReply, call


class MomoClient:
    """Each write carries the caller's id; a repeat with the same id is answered 409 by the operator."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout

    def debit(self, debit_id: str, telephone: str, amount: int, currency: str, motif: str) -> PartnerReply:
        payload = {"id": debit_id, "telephone": telephone, "montant": amount, "devise": currency, "motif": motif}
        return call("POST", self.base_url, "/debits", self.timeout, payload)

    def debit_status(self, debit_id: str) -> PartnerReply:
        return call("GET", self.base_url, f"/debits/{debit_id}", self.timeout)

    def refund(self, refund_id: str, debit_id: str, amount: int) -> PartnerReply:
        payload = {"id": refund_id, "debit_id": debit_id, "montant": amount}
        return call("POST", self.base_url, "/remboursements", self.timeout, payload)

    def refund_status(self, refund_id: str) -> PartnerReply:
        return call("GET", self.base_url, f"/remboursements/{refund_id}", self.timeout)
