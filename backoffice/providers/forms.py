"""Form of the payee providers area."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from backoffice.forms import REQUIRED


class ProviderForm(FlaskForm):
    fsp_id = StringField("Identifiant FSP (Mojaloop)", validators=[DataRequired(REQUIRED), Length(max=64)])
    name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=200)])
    submit = SubmitField("Enregistrer")
