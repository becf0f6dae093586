"""Forms of the fines area (back-office)."""

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

REQUIRED = "Ce champ est obligatoire."


class ApiClientForm(FlaskForm):
    name = StringField("Nom de l'application", validators=[DataRequired(REQUIRED), Length(max=200)])
    organisation_id = SelectField("Organisation", coerce=int)
    submit = SubmitField("Créer la clé")


class CloseForm(FlaskForm):
    note = TextAreaField(
        "Note de clôture", validators=[DataRequired("Indiquez ce qui a été vérifié."), Length(max=2000)]
    )
    submit = SubmitField("Clore le paiement")
