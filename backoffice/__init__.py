"""The backoffice application factory."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv
from flask import Flask, render_template, request
from flask.sessions import SecureCookieSessionInterface
from redis import Redis
from rq import Queue

from backoffice.config import load_settings
from backoffice.extensions import csrf, db, htmx, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, filters, headers, commands."""
    if os.environ.get("APP_ENV", "development") != "production":
        load_dotenv(ROOT / ".env")
    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH", str(ROOT / "instance")),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(load_settings(app.instance_path))
    if overrides:
        app.config.update(overrides)
    register_proxy_fix(app)
    register_extensions(app)
    register_blueprints(app)
    register_template_helpers(app)
    register_sessions(app)
    register_security_headers(app)
    register_error_pages(app)
    register_queue(app)
    register_commands(app)
    return app


def register_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-* from the configured number of reverse proxies (client IPs, https)."""
    hops = app.config.get("PROXY_FIX_HOPS", 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions to this app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    _french_form_messages(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Veuillez vous connecter pour accéder à cette page."
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "strong"

    from backoffice.security import register_session_rules, register_url_converters

    register_url_converters(app)  # before the blueprints add their routes
    register_session_rules(app)  # session versions, idle timeout, step-up

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _tune_sqlite(app)


def _french_form_messages(app: Flask) -> None:
    """WTForms' built-in messages ("Not a valid choice") in French, from its own catalogue.

    Flask-WTF only translates through Flask-Babel; without it, every form falls back to
    WTForms' locale support, which needs `Meta.locales` on the base form class.
    """
    from flask_wtf import FlaskForm

    app.config.setdefault("WTF_I18N_ENABLED", False)
    FlaskForm.Meta.locales = ["fr_FR", "fr"]


def _tune_sqlite(app: Flask) -> None:
    """WAL and a busy timeout let the web process and workers share the SQLite file."""
    from sqlalchemy import event

    from backoffice.services import search

    with app.app_context():

        @event.listens_for(db.engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            search.register_sqlite(dbapi_connection)  # fold(): searches that ignore accents


def register_blueprints(app: Flask) -> None:
    """Mount every area of the UI and the API (one line each, in the order of the menu)."""
    from backoffice import accounts, admin, api, audit, auth, batches, dashboards, fines, lists, main, providers

    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(dashboards.bp, url_prefix="/tableau-de-bord")
    app.register_blueprint(batches.bp, url_prefix="/batches")
    app.register_blueprint(lists.bp, url_prefix="/tableau-de-bord")
    app.register_blueprint(fines.bp, url_prefix="/amendes")
    app.register_blueprint(accounts.bp, url_prefix="/tableau-de-bord")
    app.register_blueprint(audit.bp, url_prefix="/tableau-de-bord")
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(providers.bp, url_prefix="/tableau-de-bord")
    app.register_blueprint(api.bp)


def register_template_helpers(app: Flask) -> None:
    """Filters that print money, dates and numbers the French way (Babel, locale fr) in the
    reader's time zone; helpers every page may use."""
    from backoffice.pages import payee_provider_name
    from backoffice.services import locale
    from backoffice.services.mojaloop_errors import error_label
    from backoffice.services.money import format_amount

    app.add_template_global(payee_provider_name)
    app.add_template_global(locale.plural, "plural")
    app.add_template_global(error_label, "error_label")

    def reader_timezone() -> str:
        """The organisation's zone for its members, the platform's (DISPLAY_TIMEZONE) for admins."""
        from flask import g, has_request_context
        from flask_login import current_user

        if not has_request_context():
            return app.config.get("DISPLAY_TIMEZONE", locale.DEFAULT_TIMEZONE)
        if "reader_timezone" not in g:
            g.reader_timezone = locale.timezone_of(
                current_user, app.config.get("DISPLAY_TIMEZONE", locale.DEFAULT_TIMEZONE)
            )
        return g.reader_timezone

    app.add_template_global(reader_timezone)
    app.add_template_global(lambda tz=None: locale.zone_label(tz or reader_timezone()), "zone_label")

    @app.template_filter("money")
    def money_filter(minor: int | None, currency: str, with_currency: bool = True) -> str:
        return format_amount(minor, currency, with_currency)

    @app.template_filter("datetime")
    def datetime_filter(value, fmt: str = "", tz: str | None = None) -> str:
        """`01/12/2026 10:38` in the reader's zone; `'seconds'` (or a legacy `…%S` pattern) adds seconds."""
        return locale.format_datetime(value, tz or reader_timezone(), seconds="S" in fmt or fmt == "seconds")

    @app.template_filter("isotime")
    def isotime_filter(value, tz: str | None = None) -> str:
        """The `datetime` attribute of a `<time>`: ISO 8601 with the zone's offset."""
        return locale.to_local(value, tz or reader_timezone()).isoformat() if value else ""

    @app.template_filter("date")
    def date_filter(value, fmt: str = locale.DATE, tz: str | None = None) -> str:
        return locale.format_date(value, fmt, tz or reader_timezone())

    @app.template_filter("number")
    def number_filter(value: int | float | None, decimals: int | None = None) -> str:
        return locale.format_number(value, decimals)

    @app.template_filter("percent")
    def percent_filter(part: int, whole: int, decimals: int = 1) -> str:
        return locale.format_percent(part, whole, decimals)

    @app.context_processor
    def inject_globals() -> dict:
        from flask_login import current_user

        from backoffice.navigation import navigation_for

        return {"app_env": app.config["APP_ENV"], "navigation": navigation_for(current_user)}


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus building a signer for requests without a cookie.

    API calls never carry the session cookie; Flask would still build an itsdangerous
    serializer for each (about 0.1 ms on the fines API's hot path, benchmarks/RESULTS.md).
    """

    def open_session(self, app: Flask, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def register_sessions(app: Flask) -> None:
    """Signed-cookie sessions that cost nothing to requests without the cookie (API calls)."""
    app.session_interface = CookieSessions()


def register_security_headers(app: Flask) -> None:
    """CSP without inline scripts, no framing, no referrer leaks."""

    @app.after_request
    def headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        )
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def register_error_pages(app: Flask) -> None:
    """French error pages; JSON for the API."""
    from flask_wtf.csrf import CSRFError

    messages = {
        400: "Requête invalide.",
        403: "Vous n'avez pas le droit d'effectuer cette action.",
        404: "Page introuvable.",
        405: "Méthode non autorisée.",
        413: "Fichier ou requête trop volumineux.",
        500: "Erreur interne. L'incident a été enregistré.",
    }

    def render(code: int, message: str):
        if request.path.startswith("/api/"):
            from backoffice.api.errors import http_error_response

            return http_error_response(code, message)
        if request.path.startswith("/amendes/payments") or request.accept_mimetypes.best == "application/json":
            return {"erreur": message, "code": code}, code
        return render_template("error.html", code=code, message=message), code

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render(400, "Jeton de sécurité (CSRF) manquant ou expiré. Rechargez la page et réessayez.")

    for code, message in messages.items():
        app.register_error_handler(code, lambda error, c=code, m=message: render(c, m))


def register_queue(app: Flask) -> None:
    """One Redis connection and RQ queue per app, created lazily."""

    def get_queue() -> Queue:
        if "queue" not in app.extensions:
            connection = Redis.from_url(app.config["REDIS_URL"])
            app.extensions["redis"] = connection
            app.extensions["queue"] = Queue(app.config["RQ_QUEUE"], connection=connection)
        return app.extensions["queue"]

    app.get_queue = get_queue  # type: ignore[attr-defined]


def register_commands(app: Flask) -> None:
    """flask seed-demo, create-admin, worker, simulate …"""
    from backoffice.cli import register

    register(app)
