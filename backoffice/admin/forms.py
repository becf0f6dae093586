"""Forms of the administration area."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from backoffice.forms import REQUIRED
from backoffice.models.accounts import PARTY_ID_TYPES
from backoffice.services.locale import DEFAULT_TIMEZONE, timezone_choices
from backoffice.services.money import CURRENCIES
from backoffice.services.parties import country_choices


class OrganisationForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(REQUIRED), Length(min=2, max=32)])
    name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=200)])
    timezone = SelectField("Fuseau horaire", choices=timezone_choices(), default=DEFAULT_TIMEZONE)
    country = SelectField("Pays des numéros nationaux", choices=country_choices(), default="BJ")
    submit = SubmitField("Enregistrer")


class UserForm(FlaskForm):
    email = EmailField("Adresse e-mail", validators=[DataRequired(REQUIRED), Email("Adresse e-mail invalide.")])
    first_name = StringField("Prénom", validators=[DataRequired(REQUIRED), Length(max=100)])
    last_name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=100)])
    phone = StringField(
        "Téléphone",
        validators=[Optional(), Regexp(r"^\+?[0-9 ]{6,20}$", message="Numéro de téléphone invalide.")],
    )
    organisation_id = SelectField("Organisation", coerce=int, validators=[Optional()])
    role = SelectField("Rôle", choices=[("GESTIONNAIRE", "Gestionnaire"), ("SUPERVISEUR", "Superviseur")])
    is_admin = BooleanField("Administrateur de la plateforme")
    submit = SubmitField("Créer l'utilisateur")


class RoleForm(FlaskForm):
    role = SelectField("Rôle", choices=[("GESTIONNAIRE", "Gestionnaire"), ("SUPERVISEUR", "Superviseur")])
    submit = SubmitField("Changer le rôle")


class AccountForm(FlaskForm):
    organisation_id = SelectField("Organisation", coerce=int, validators=[DataRequired(REQUIRED)])
    account_id = StringField("Identifiant du compte", validators=[DataRequired(REQUIRED), Length(max=64)])
    label = StringField("Libellé", validators=[Optional(), Length(max=200)])
    currency = SelectField("Devise", choices=[(c, c) for c in CURRENCIES])
    party_id_type = SelectField("Type d'identifiant Mojaloop", choices=[(t, t) for t in PARTY_ID_TYPES])
    party_id_value = StringField("Identifiant Mojaloop", validators=[DataRequired(REQUIRED), Length(max=128)])
    submit = SubmitField("Créer le compte")


class TopUpForm(FlaskForm):
    amount = StringField("Montant", validators=[DataRequired(REQUIRED)])
    reason = TextAreaField("Motif", validators=[DataRequired(REQUIRED), Length(max=500)])
    submit = SubmitField("Demander l'approvisionnement")


class TopUpDecisionForm(FlaskForm):
    """A second admin's decision on a top-up request: the reason is kept with it."""

    reason = TextAreaField(
        "Motif de la décision",
        validators=[DataRequired("Le motif de la décision est obligatoire."), Length(max=500)],
    )


class ApprovalRuleForm(FlaskForm):
    """An organisation's approval rule for one currency; an empty amount means no such limit."""

    currency = SelectField("Devise", choices=[(c, c) for c in CURRENCIES])
    dual_above = StringField("Deux approbateurs au-delà de (total du lot)", validators=[Optional(), Length(max=40)])
    daily_limit = StringField("Plafond journalier (total approuvé par jour)", validators=[Optional(), Length(max=40)])
    submit = SubmitField("Enregistrer la règle")
