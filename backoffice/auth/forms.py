"""Sign-in and password forms."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

REQUIRED = "Ce champ est obligatoire."


class LoginForm(FlaskForm):
    email = EmailField("Adresse e-mail", validators=[DataRequired(REQUIRED), Length(max=254)])
    password = PasswordField("Mot de passe", validators=[DataRequired(REQUIRED)])
    submit = SubmitField("Se connecter")


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Mot de passe actuel", validators=[DataRequired(REQUIRED)])
    new = PasswordField(
        "Nouveau mot de passe", validators=[DataRequired(REQUIRED), Length(min=12, message="Au moins 12 caractères.")]
    )
    confirm = PasswordField(
        "Confirmation", validators=[DataRequired(REQUIRED), EqualTo("new", message="Les deux mots de passe diffèrent.")]
    )
    submit = SubmitField("Changer le mot de passe")


class CodeForm(FlaskForm):
    """A code of the authenticator app (or, at sign-in, a recovery code)."""

    code = StringField(
        "Code à 6 chiffres",
        validators=[DataRequired("Saisissez le code de votre application."), Length(max=32)],
    )
    submit = SubmitField("Valider")


class ChoosePasswordForm(FlaskForm):
    """The first password, chosen from an invitation link."""

    new = PasswordField(
        "Mot de passe", validators=[DataRequired(REQUIRED), Length(min=12, message="Au moins 12 caractères.")]
    )
    confirm = PasswordField(
        "Confirmation", validators=[DataRequired(REQUIRED), EqualTo("new", message="Les deux mots de passe diffèrent.")]
    )
    submit = SubmitField("Choisir ce mot de passe")
