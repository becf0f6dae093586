"""Forms of the fines area (back-office)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from backoffice.services.api_clients import SCOPES
from backoffice.services.webhooks import EVENT_LABELS

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


class WebhookEndpointForm(FlaskForm):
    """A webhook endpoint: its URL, the events it receives and the API client whose secret signs them."""

    url = StringField(
        "Adresse (URL https)",
        validators=[DataRequired(REQUIRED), Length(max=500, message="500 caractères au plus.")],
    )
    description = StringField("Description", validators=[Length(max=200, message="200 caractères au plus.")])
    api_client_id = SelectField(
        "Client API (son secret signe les événements)", coerce=int, validators=[DataRequired(REQUIRED)]
    )
    events = SelectMultipleField(
        "Événements reçus",
        choices=list(EVENT_LABELS.items()),
        default=list(EVENT_LABELS),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[DataRequired("Choisissez au moins un événement.")],
    )
    submit = SubmitField("Enregistrer le webhook")


class ApiApprovalForm(FlaskForm):
    """An organisation's choice: may a different client holding batches:approve decide its batches?"""

    allowed = BooleanField("Autoriser l'approbation des lots par l'API (par un autre client que le créateur)")
    submit = SubmitField("Enregistrer")


class CloseForm(FlaskForm):
    note = TextAreaField(
        "Note de clôture", validators=[DataRequired("Indiquez ce qui a été vérifié."), Length(max=2000)]
    )
    submit = SubmitField("Clore le paiement")
