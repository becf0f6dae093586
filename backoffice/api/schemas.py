"""The API's request and answer shapes (marshmallow), read by the loaders and by the OpenAPI document.

Names are French, as in the fines API; amounts are integers of the currency's minor unit.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, INCLUDE, Schema, fields, validate

from backoffice.models.batches import LOOKUP_LABELS, NAME_MATCH_LABELS, BatchStatus, RowStatus
from backoffice.services.webhooks import SUBSCRIBABLE_EVENTS

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
MAX_LIMIT = 200


class Lenient(Schema):
    """Query strings: unknown parameters are ignored, as browsers and proxies add their own."""

    class Meta:
        unknown = EXCLUDE


def _limit() -> fields.Integer:
    return fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=MAX_LIMIT, error=f"Entre 1 et {MAX_LIMIT}."),
        metadata={"description": f"Nombre d'éléments par page (au plus {MAX_LIMIT})."},
    )


def _offset() -> fields.Integer:
    return fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=10_000_000, error="Entier positif ou nul attendu."),
        metadata={"description": "Nombre d'éléments à sauter."},
    )


# Errors -----------------------------------------------------------------------------------


class FieldErrorSchema(Schema):
    champ = fields.String(required=True, metadata={"description": "Le champ, paramètre ou en-tête en cause"})
    code = fields.String(required=True, metadata={"description": "Code stable"})
    message = fields.String(required=True, metadata={"description": "Explication en français"})


class ErrorSchema(Schema):
    """Every refusal of the API (other keys may be added, e.g. `amendes` for a fine already paid)."""

    class Meta:
        unknown = INCLUDE

    erreur = fields.String(required=True, metadata={"description": "Code stable, ex. PARAMETRES_INVALIDES"})
    message = fields.String(required=True, metadata={"description": "Message en français"})
    erreurs = fields.List(fields.Nested(FieldErrorSchema), metadata={"description": "Détail par champ"})


# Batches: creation ------------------------------------------------------------------------


class LineSchema(Schema):
    """One payment of a JSON batch: the payment-list format's columns."""

    class Meta:
        unknown = EXCLUDE

    type_id = fields.String(
        required=True,
        validate=validate.Length(max=40, error="Au plus 40 caractères."),
        metadata={"description": "Type d'identifiant Mojaloop (MSISDN, ACCOUNT_ID, PERSONAL_ID …)"},
    )
    valeur_id = fields.String(
        required=True,
        validate=validate.Length(max=256, error="Au plus 256 caractères."),
        metadata={"description": "Identifiant du bénéficiaire"},
    )
    montant = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=-(10**15), max=10**15, error="Montant hors limites."),
        metadata={"description": "Montant en unité mineure de la devise (XOF : francs ; MRU : centimes)"},
    )
    devise = fields.String(
        validate=validate.Length(max=8, error="Au plus 8 caractères."),
        metadata={"description": "Devise (celle du compte payeur par défaut)"},
    )
    nom_complet = fields.String(
        validate=validate.Length(max=400, error="Au plus 400 caractères."),
        metadata={"description": "Nom du bénéficiaire"},
    )


class _BatchOptions(Schema):
    class Meta:
        unknown = EXCLUDE

    compte_payeur = fields.String(
        validate=validate.Length(min=1, max=64, error="De 1 à 64 caractères."),
        metadata={"description": "Numéro du compte payeur (facultatif si l'organisation n'en a qu'un)"},
    )
    libelle = fields.String(
        validate=validate.Length(max=200, error="Au plus 200 caractères."),
        metadata={"description": "Libellé du lot (par défaut : « Lot API » et la date)"},
    )
    periode = fields.String(
        validate=validate.Regexp(PERIOD_PATTERN, error="Période attendue au format AAAA-MM."),
        metadata={"description": "Période de paie, AAAA-MM"},
    )
    callback_url = fields.String(
        validate=validate.Length(min=1, max=500, error="De 1 à 500 caractères."),
        metadata={"description": "Adresse https qui reçoit les événements de ce lot (webhooks signés)"},
    )


class CreateBatchJsonSchema(_BatchOptions):
    lignes = fields.List(
        fields.Nested(LineSchema),
        required=True,
        validate=validate.Length(min=1, error="Au moins une ligne."),
        metadata={"description": "Les paiements du lot"},
    )


class CreateBatchFileSchema(_BatchOptions):
    file = fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "contentMediaType": "text/csv",
            "description": "Fichier CSV (formats de la page d'import)",
        },
    )


class SubmitSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    exclure_invalides = fields.Boolean(
        load_default=False, metadata={"description": "Soumettre sans les lignes invalides (elles restent « Exclu »)"}
    )


class RejectSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    motif = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000, error="De 1 à 2000 caractères."),
    )


# Batches: answers -------------------------------------------------------------------------


class SummarySchema(Schema):
    lignes = fields.Integer(required=True)
    valides = fields.Integer(required=True)
    invalides = fields.Integer(required=True)
    avertissements = fields.Integer(required=True)
    montant_total = fields.Integer(required=True, metadata={"description": "Somme des lignes valides"})
    devise = fields.String(required=True)


class LineProblemSchema(Schema):
    ligne = fields.Integer(
        required=True, metadata={"description": "Ligne du fichier, ou rang dans `lignes` (1 = la première)"}
    )
    champ = fields.String(required=True)
    motif = fields.String(required=True)


class AccountRefSchema(Schema):
    id = fields.Integer(required=True)
    numero = fields.String(required=True)


class BatchSchema(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    libelle = fields.String(required=True)
    statut = fields.String(required=True, metadata={"enum": [s.value for s in BatchStatus]})
    statut_libelle = fields.String(required=True)
    devise = fields.String(required=True)
    compte_payeur = fields.Nested(AccountRefSchema, required=True)
    periode = fields.String(allow_none=True, required=True)
    resume = fields.Nested(SummarySchema, required=True)
    montant_reserve = fields.Integer(required=True)
    origine = fields.String(required=True, metadata={"enum": ["api", "back-office"]})
    client_api = fields.String(allow_none=True, required=True)
    cree_par = fields.String(allow_none=True, required=True)
    cree_le = fields.String(required=True, metadata={"format": "date-time"})
    soumis_le = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    approuve_le = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    termine_le = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})


class BatchCreatedSchema(BatchSchema):
    erreurs = fields.List(fields.Nested(LineProblemSchema), required=True)
    avertissements = fields.List(fields.Nested(LineProblemSchema), required=True)
    erreurs_tronquees = fields.Boolean(
        required=True, metadata={"description": "Vrai si la liste est coupée (1000 au plus)"}
    )


class BatchListSchema(Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    lots = fields.List(fields.Nested(BatchSchema), required=True)


class StatusCountSchema(Schema):
    nombre = fields.Integer(required=True)
    montant = fields.Integer(required=True)


class StatisticsSchema(Schema):
    par_statut = fields.Dict(keys=fields.String(), values=fields.Nested(StatusCountSchema), required=True)
    frais = fields.Integer(required=True)
    taux_reussite = fields.Float(allow_none=True, required=True)


class OrganisationRefSchema(Schema):
    code = fields.String(required=True)
    nom = fields.String(required=True)


class TimelineEntrySchema(Schema):
    date = fields.String(required=True, metadata={"format": "date-time"})
    action = fields.String(required=True)
    message = fields.String(required=True)
    par = fields.String(allow_none=True, required=True)


_LOOKUP_CODES = list(LOOKUP_LABELS)
_MATCH_CODES = list(NAME_MATCH_LABELS)


class VerificationSummarySchema(Schema):
    """The payee verification (GET /parties before approval) of the batch."""

    etat = fields.String(required=True, metadata={"enum": ["NOT_STARTED", "RUNNING", "DONE"]})
    etat_libelle = fields.String(required=True)
    verifie_le = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    verifiees = fields.Integer(required=True, metadata={"description": "Lignes dont la recherche a abouti"})
    a_verifier = fields.Integer(required=True, metadata={"description": "Lignes à rechercher en tout"})
    par_resultat = fields.Dict(
        keys=fields.String(metadata={"enum": _LOOKUP_CODES}),
        values=fields.Integer(),
        required=True,
        metadata={"description": "FOUND (trouvé), NOT_FOUND (introuvable), UNVERIFIED (non vérifié : pas de réponse)"},
    )
    par_correspondance = fields.Dict(
        keys=fields.String(metadata={"enum": _MATCH_CODES}),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Noms du fichier et de Mojaloop : CONCORDANT, A_CONTROLER, DISCORDANT"},
    )


class AcknowledgementSchema(Schema):
    motif = fields.String(required=True)
    par = fields.String(allow_none=True, required=True)
    le = fields.String(required=True, metadata={"format": "date-time"})


class GuardSummarySchema(Schema):
    """What an approver must exclude or acknowledge, over the rows still to be paid."""

    deja_payees = fields.Integer(required=True, metadata={"description": "Lignes déjà payées pour cette période"})
    contenu_identique = fields.List(
        fields.String(), required=True, metadata={"description": "Références des lots antérieurs au contenu identique"}
    )
    noms_discordants = fields.Integer(required=True)
    non_verifiees = fields.Integer(required=True)
    confirmation_requise = fields.Boolean(
        required=True, metadata={"description": "L'approbation demande une justification (ou l'exclusion des lignes)"}
    )
    motifs = fields.List(fields.String(), required=True, metadata={"description": "Les alertes, en français"})
    confirmation = fields.Nested(
        AcknowledgementSchema,
        allow_none=True,
        required=True,
        metadata={"description": "La justification de l'approbateur, une fois donnée"},
    )


class BatchDetailSchema(BatchSchema):
    organisation = fields.Nested(OrganisationRefSchema, required=True)
    statistiques = fields.Nested(StatisticsSchema, required=True)
    verification = fields.Nested(VerificationSummarySchema, required=True)
    alertes = fields.Nested(GuardSummarySchema, required=True, metadata={"description": "Contrôle du double paiement"})
    chronologie = fields.List(fields.Nested(TimelineEntrySchema), required=True)


class ListBatchesQuery(Lenient):
    statut = fields.String(
        validate=validate.OneOf([s.value for s in BatchStatus], error="Statut inconnu."),
        metadata={"description": "État du lot"},
    )
    start_date = fields.Date(metadata={"description": "Créés à partir de ce jour (AAAA-MM-JJ)"})
    end_date = fields.Date(metadata={"description": "Créés jusqu'à ce jour inclus (AAAA-MM-JJ)"})
    compte_payeur = fields.String(validate=validate.Length(max=64, error="Au plus 64 caractères."))
    periode = fields.String(validate=validate.Regexp(PERIOD_PATTERN, error="Période attendue au format AAAA-MM."))
    limit = _limit()
    offset = _offset()


class AccountBatchesQuery(Lenient):
    statut = ListBatchesQuery._declared_fields["statut"]
    start_date = fields.Date()
    end_date = fields.Date()
    periode = fields.String(validate=validate.Regexp(PERIOD_PATTERN, error="Période attendue au format AAAA-MM."))
    limit = _limit()
    offset = _offset()


class RowsQuery(Lenient):
    statut = fields.String(
        validate=validate.OneOf([s.value for s in RowStatus], error="Statut de ligne inconnu."),
        metadata={"description": "Statut des lignes"},
    )
    limit = _limit()
    offset = _offset()


class RowVerificationSchema(Schema):
    """The payee lookup of one row (all null until the verification reached it)."""

    statut = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "enum": [*_LOOKUP_CODES, None],
            "description": "FOUND, NOT_FOUND, UNVERIFIED ; null : pas encore vérifié",
        },
    )
    statut_libelle = fields.String(required=True)
    correspondance = fields.String(
        allow_none=True,
        required=True,
        metadata={"enum": [*_MATCH_CODES, None], "description": "Nom du fichier face au nom renvoyé par Mojaloop"},
    )
    correspondance_libelle = fields.String(allow_none=True, required=True)
    score = fields.Integer(allow_none=True, required=True, metadata={"description": "Ressemblance des noms, 0 à 100"})
    nom_mojaloop = fields.String(
        allow_none=True, required=True, metadata={"description": "Nom renvoyé par la recherche"}
    )
    fsp = fields.String(allow_none=True, required=True, metadata={"description": "FSP du bénéficiaire"})


class RowGuardSchema(Schema):
    """*Déjà payé pour cette période*: the other payment of the same beneficiary."""

    code = fields.String(required=True, metadata={"enum": ["ALREADY_PAID_FOR_PERIOD"]})
    message = fields.String(required=True)
    lot_id = fields.Integer(allow_none=True, required=True)
    lot_reference = fields.String(allow_none=True, required=True)
    date = fields.String(allow_none=True, required=True, metadata={"description": "JJ/MM/AAAA"})
    montant = fields.Integer(allow_none=True, required=True)
    devise = fields.String(required=True)
    statut_autre_ligne = fields.String(
        allow_none=True, required=True, metadata={"description": "COMPLETED : déjà payé ; sinon : paiement en cours"}
    )
    exclue = fields.Boolean(required=True, metadata={"description": "La ligne a été exclue du lot"})
    confirmee = fields.Boolean(required=True, metadata={"description": "L'approbateur a confirmé le paiement"})


class RowSchema(Schema):
    ligne = fields.Integer(required=True)
    statut = fields.String(required=True, metadata={"enum": [s.value for s in RowStatus]})
    statut_libelle = fields.String(required=True)
    type_id = fields.String(required=True)
    valeur_id = fields.String(required=True)
    montant = fields.Integer(allow_none=True, required=True)
    frais = fields.Integer(required=True)
    devise = fields.String(required=True)
    transfer_id = fields.String(required=True, metadata={"description": "transferId Mojaloop (UUID)"})
    code_erreur = fields.String(allow_none=True, required=True)
    description_erreur = fields.String(allow_none=True, required=True)
    nom_fichier = fields.String(required=True, metadata={"description": "Nom du bénéficiaire d'après le fichier"})
    nom_mojaloop = fields.String(allow_none=True, required=True, metadata={"description": "Nom renvoyé par Mojaloop"})
    fsp_beneficiaire = fields.String(allow_none=True, required=True)
    erreurs = fields.List(fields.Nested(LineProblemSchema), required=True)
    avertissements = fields.List(fields.Nested(LineProblemSchema), required=True)
    paye_le = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    verification = fields.Nested(RowVerificationSchema, required=True)
    double_paiement = fields.Nested(
        RowGuardSchema, allow_none=True, required=True, metadata={"description": "null : pas d'alerte"}
    )


class RowsPageSchema(Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    lignes = fields.List(fields.Nested(RowSchema), required=True)


class BatchStatusSchema(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    statut = fields.String(required=True, metadata={"enum": [s.value for s in BatchStatus]})
    statut_libelle = fields.String(required=True)
    termine = fields.Boolean(required=True, metadata={"description": "Le lot n'évoluera plus"})
    progress_percent = fields.Integer(required=True)
    compteurs = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    a_payer = fields.Integer(required=True, metadata={"description": "Lignes à payer (hors invalides et exclues)"})
    traitees = fields.Integer(required=True, metadata={"description": "Lignes arrivées à une issue"})


# Accounts ---------------------------------------------------------------------------------


class AccountSchema(Schema):
    id = fields.Integer(required=True)
    numero = fields.String(required=True)
    libelle = fields.String(required=True)
    devise = fields.String(required=True)
    solde = fields.Integer(required=True)
    reserve = fields.Integer(required=True)
    disponible = fields.Integer(required=True)
    actif = fields.Boolean(required=True)


class AccountListSchema(Schema):
    comptes = fields.List(fields.Nested(AccountSchema), required=True)


class PageQuery(Lenient):
    limit = _limit()
    offset = _offset()


class LedgerEntrySchema(Schema):
    id = fields.Integer(required=True)
    date = fields.String(required=True, metadata={"format": "date-time"})
    type = fields.String(required=True)
    type_libelle = fields.String(required=True)
    montant = fields.Integer(required=True)
    solde_apres = fields.Integer(required=True)
    reserve_apres = fields.Integer(required=True)
    reference = fields.String(required=True)
    note = fields.String(required=True)


class LedgerPageSchema(Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    ecritures = fields.List(fields.Nested(LedgerEntrySchema), required=True)


# Webhooks ---------------------------------------------------------------------------------


class WebhookCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    url = fields.String(required=True, validate=validate.Length(min=1, max=500, error="De 1 à 500 caractères."))
    description = fields.String(validate=validate.Length(max=200, error="Au plus 200 caractères."))
    evenements = fields.List(
        fields.String(validate=validate.OneOf(SUBSCRIBABLE_EVENTS, error="Événement inconnu.")),
        validate=validate.Length(min=1, error="Au moins un événement."),
        metadata={"description": "Les événements reçus (par défaut : tous)"},
    )


class WebhookSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    description = fields.String(required=True)
    evenements = fields.List(fields.String(metadata={"enum": list(SUBSCRIBABLE_EVENTS)}), required=True)
    cree_le = fields.String(required=True, metadata={"format": "date-time"})


class WebhookListSchema(Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema), required=True)


class DeliverySchema(Schema):
    id = fields.Integer(required=True)
    evenement = fields.String(required=True)
    event_id = fields.String(required=True)
    url = fields.String(required=True)
    statut = fields.String(required=True, metadata={"enum": ["EN_ATTENTE", "ENVOYE", "ABANDONNE"]})
    essais = fields.Integer(required=True)
    dernier_code = fields.Integer(allow_none=True, required=True)
    derniere_erreur = fields.String(allow_none=True, required=True)
    prochain_essai = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    cree_le = fields.String(required=True, metadata={"format": "date-time"})


class DeliveryListSchema(Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    livraisons = fields.List(fields.Nested(DeliverySchema), required=True)


# Fines (documentation of the existing endpoints; their checks live in services/fines) -------


class FinesPaymentRequestSchema(Schema):
    reference = fields.String(required=True, metadata={"description": "Référence du client, unique"})
    telephone = fields.String(required=True, metadata={"description": "MSISDN du citoyen"})
    amendes = fields.List(fields.String(), required=True, metadata={"description": "Numéros d'amende"})
    montant = fields.Integer(required=True, metadata={"description": "Montant total, unité mineure"})
    devise = fields.String(required=True)
    callback_url = fields.String(metadata={"description": "Adresse qui reçoit l'état final, signé"})


class FinesReceiptSchema(Schema):
    id = fields.String(required=True)
    reference = fields.String(required=True)
    statut = fields.String(required=True)
    lien = fields.String(required=True)


class FinesPaymentSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True)
    reference = fields.String(required=True)
    statut = fields.String(required=True)
