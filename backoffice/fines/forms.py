"""Forms of the fines area (back-office)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from backoffice.services.api_clients import SCOPES

REQUIRED = "Ce champ est obligatoire."


class ApiClientForm(FlaskForm):
    name = StringField("Nom de l'application", validators=[DataRequired(REQUIRED), Length(max=200)])
    organisation_id = SelectField("Organisation", coerce=int)
    scopes = SelectMultipleField(
        "Droits de la clé",
        choices=[(scope, f"{scope} — {label}") for scope, label in SCOPES.items()],
        default=["fines:write"],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[DataRequired("Choisissez au moins un droit.")],
    )
    submit = SubmitField("Créer la clé")


class ApiApprovalForm(FlaskForm):
    """An organisation's choice: may a different client holding batches:approve decide its batches?"""

    allowed = BooleanField("Autoriser l'approbation des lots par l'API (par un autre client que le créateur)")
    submit = SubmitField("Enregistrer")


class CloseForm(FlaskForm):
    note = TextAreaField(
        "Note de clôture", validators=[DataRequired("Indiquez ce qui a été vérifié."), Length(max=2000)]
    )
    submit = SubmitField("Clore le paiement")
