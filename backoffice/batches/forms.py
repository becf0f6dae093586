"""Forms of the bulk payments area."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

REQUIRED = "Ce champ est obligatoire."


class UploadForm(FlaskForm):
    file = FileField("Fichier CSV ou Excel (.xlsx)", validators=[FileRequired("Choisissez un fichier CSV ou Excel.")])
    # The service checks that the account belongs to the organisation (with a French message).
    account_id = SelectField(
        "Compte payeur", coerce=int, validate_choice=False, validators=[DataRequired("Choisissez un compte payeur.")]
    )
    label = StringField(
        "Libellé du lot", validators=[DataRequired(REQUIRED), Length(max=200, message="200 caractères au plus.")]
    )
    # Choices are the months around today (services.bulk.guard.period_choices); the service checks.
    payment_period = SelectField("Période de paiement", validate_choice=False)
    submit = SubmitField("Importer et vérifier")


class SubmitBatchForm(FlaskForm):
    exclude_invalid = BooleanField("Exclure les lignes invalides (elles resteront visibles, marquées « Exclu »)")
    submit = SubmitField("Soumettre pour approbation")


class ApproveForm(FlaskForm):
    """Approval; the acknowledgement is required by the service when rows are flagged."""

    acknowledgement = TextAreaField(
        "Motif de la confirmation des alertes",
        validators=[Length(max=2000, message="2 000 caractères au plus.")],
    )
    submit = SubmitField("Approuver et payer")


class ReasonForm(FlaskForm):
    """Exclude a row, allow a repeated beneficiary: a reason, checked by the service."""

    reason = StringField("Motif", validators=[Length(max=200, message="200 caractères au plus.")])


class EditRowForm(FlaskForm):
    id_value = StringField("Identifiant", validators=[Length(max=128, message="128 caractères au plus.")])
    amount = StringField("Montant", validators=[Length(max=32, message="32 caractères au plus.")])


class RejectForm(FlaskForm):
    reason = TextAreaField(
        "Motif du rejet",
        validators=[
            DataRequired("Le motif du rejet est obligatoire."),
            Length(max=2000, message="2 000 caractères au plus."),
        ],
    )
    submit = SubmitField("Rejeter le lot")


class ResolveRowForm(FlaskForm):
    """A person's decision on a row "À vérifier"; the service checks the outcome and the note."""

    outcome = StringField("Décision")
    note = StringField(
        "Note (comment l'issue a été vérifiée)",
        validators=[Length(max=500, message="500 caractères au plus.")],
    )
