"""Forms of the beneficiary lists area."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from backoffice.forms import REQUIRED
from backoffice.models.accounts import PARTY_ID_TYPES
from backoffice.services.money import CURRENCIES


class ListForm(FlaskForm):
    name = StringField("Nom de la liste", validators=[DataRequired(REQUIRED), Length(max=200)])
    currency = SelectField("Devise", choices=[(c, c) for c in CURRENCIES])
    description = TextAreaField("Description", validators=[Optional(), Length(max=500)])
    source = SelectField(
        "Bénéficiaires",
        choices=[("empty", "Liste vide"), ("file", "Depuis un fichier CSV"), ("batch", "Depuis un lot précédent")],
    )
    file = FileField("Fichier CSV", validators=[FileAllowed(["csv", "txt"], "Un fichier CSV est attendu.")])
    batch_id = SelectField("Lot précédent", coerce=int, validators=[Optional()], validate_choice=False)
    submit = SubmitField("Créer la liste")


class EntryForm(FlaskForm):
    party_id_type = SelectField("Type d'identifiant", choices=[(t, t) for t in PARTY_ID_TYPES])
    party_id_value = StringField("Identifiant", validators=[DataRequired(REQUIRED), Length(max=128)])
    name = StringField("Nom", validators=[Optional(), Length(max=200)])
    default_amount = StringField("Montant par défaut", validators=[Optional(), Length(max=32)])
    note = StringField("Note", validators=[Optional(), Length(max=200)])
    active = BooleanField("Active", default=True)
    submit = SubmitField("Enregistrer")


class AmountChangesForm(FlaskForm):
    file = FileField(
        "Fichier des modifications (CSV : identifiant;montant)",
        validators=[
            FileRequired("Choisissez un fichier CSV."),
            FileAllowed(["csv", "txt"], "Un fichier CSV est attendu."),
        ],
    )
    submit = SubmitField("Appliquer les modifications")
