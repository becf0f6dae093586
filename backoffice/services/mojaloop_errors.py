"""French descriptions of the FSPIOP error codes a bulk payment can meet (Mojaloop API 1.1, §7.6).

Pages, the dashboard and emails show `error_label(code)`; the description the switch sent
(`BatchRow.error_description`, English) is kept as received and exported beside it.
"""

from __future__ import annotations

FSPIOP_ERRORS: dict[str, str] = {
    # 1xxx: communication
    "1000": "Erreur de communication",
    "1001": "Erreur de communication avec le destinataire",
    # 2xxx: server
    "2000": "Erreur générique du serveur",
    "2001": "Erreur interne du serveur",
    "2002": "Fonction non prise en charge",
    "2003": "Service momentanément indisponible",
    "2004": "Délai de réponse du serveur dépassé",
    "2005": "Serveur surchargé",
    # 3xxx: client, validation, identifiers, expiry
    "3000": "Erreur générique de la requête",
    "3001": "Version de l’API refusée",
    "3002": "Adresse (URI) inconnue",
    "3003": "Erreur d’ajout des informations du bénéficiaire",
    "3100": "Requête invalide",
    "3101": "Syntaxe de la requête incorrecte",
    "3102": "Élément obligatoire manquant",
    "3103": "Trop d’éléments dans la requête",
    "3104": "Requête trop volumineuse",
    "3105": "Signature invalide",
    "3106": "Requête modifiée en chemin",
    "3107": "Paramètre d’extension obligatoire manquant",
    "3200": "Identifiant introuvable",
    "3201": "Erreur du fournisseur destinataire",
    "3202": "Fournisseur du payeur introuvable",
    "3203": "Fournisseur du bénéficiaire introuvable",
    "3204": "Bénéficiaire introuvable",
    "3205": "Devis introuvable",
    "3206": "Demande de transaction introuvable",
    "3207": "Transaction introuvable",
    "3208": "Transfert introuvable",
    "3209": "Devis groupé introuvable",
    "3210": "Transfert groupé introuvable",
    "3300": "Délai expiré",
    "3301": "Demande de transaction expirée",
    "3302": "Devis expiré",
    "3303": "Transfert expiré",
    # 4xxx: payer side
    "4000": "Erreur du payeur",
    "4001": "Liquidité insuffisante chez le fournisseur du payeur",
    "4100": "Refus du payeur",
    "4101": "Demande de transaction refusée par le payeur",
    "4102": "Type de transaction non pris en charge par le fournisseur du payeur",
    "4103": "Devise non prise en charge par le payeur",
    "4200": "Plafond du payeur atteint",
    "4300": "Opération non autorisée pour le payeur",
    "4400": "Payeur bloqué",
    # 5xxx: payee side
    "5000": "Erreur du bénéficiaire",
    "5001": "Liquidité insuffisante chez le fournisseur du bénéficiaire",
    "5100": "Refus du bénéficiaire",
    "5101": "Devis refusé par le bénéficiaire",
    "5102": "Type de transaction non pris en charge par le fournisseur du bénéficiaire",
    "5103": "Devis refusé par le fournisseur du bénéficiaire",
    "5104": "Transfert refusé par le bénéficiaire",
    "5105": "Transfert refusé par le fournisseur du bénéficiaire",
    "5106": "Devise non prise en charge par le bénéficiaire",
    "5200": "Plafond du bénéficiaire atteint",
    "5300": "Opération non autorisée pour le bénéficiaire",
    "5400": "Bénéficiaire bloqué",
}

# Codes the product writes itself (services/bulk/settlement.py, review.py, clients/mojaloop.py).
LOCAL_ERRORS: dict[str, str] = {
    "ABORTED": "Transfert interrompu par l’adaptateur",
    "MANUEL": "Déclaré échoué après vérification manuelle",
    "400": "Requête refusée par l’adaptateur (HTTP 400)",
    "404": "Transfert introuvable chez l’adaptateur (HTTP 404)",
    "500": "Erreur de l’adaptateur (HTTP 500)",
    "502": "Adaptateur injoignable (HTTP 502)",
    "503": "Adaptateur indisponible (HTTP 503)",
}

# The first digits of an FSPIOP code name its family: the fallback for a code not in the table.
_FAMILIES = {
    "1": "Erreur de communication",
    "2": "Erreur du serveur",
    "30": "Erreur de la requête",
    "31": "Requête invalide",
    "32": "Identifiant introuvable",
    "33": "Délai expiré",
    "4": "Erreur du payeur",
    "5": "Erreur du bénéficiaire",
}


def error_label(code: str | None, received: str | None = None) -> str:
    """The French description of an error code: `3204` → `Bénéficiaire introuvable`.

    An unknown 4-digit code gets its family's description (`5999` → `Erreur du bénéficiaire`);
    anything else falls back to the description received, or `Erreur inconnue`.
    """
    code = (code or "").strip()
    if not code:
        return received or "—"
    if code in FSPIOP_ERRORS:
        return FSPIOP_ERRORS[code]
    if code in LOCAL_ERRORS:
        return LOCAL_ERRORS[code]
    if len(code) == 4 and code.isdigit():
        family = _FAMILIES.get(code[:2]) or _FAMILIES.get(code[:1])
        if family:
            return f"{family} ({code})"
    return received or "Erreur inconnue"
