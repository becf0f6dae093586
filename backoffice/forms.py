"""Form pieces shared by every area."""

from flask_wtf import FlaskForm

REQUIRED = "Ce champ est obligatoire."


class EmptyForm(FlaskForm):
    """A button-only POST: carries the CSRF token and nothing else."""
