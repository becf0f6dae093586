"""Outgoing email: SMTP when MAIL_SERVER is set, otherwise .eml files in the outbox folder."""

from __future__ import annotations

import os
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app


def send_email(to: str, subject: str, body: str) -> EmailMessage:
    """Send one plain-text email; in development it lands in the outbox folder."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="backoffice")
    message.set_content(body)
    if config["MAIL_SERVER"]:
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=15) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
    else:
        outbox = Path(config["MAIL_OUTBOX"])
        outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Invitation links are secrets: only this user may read the development outbox.
        fd = os.open(outbox / f"{uuid.uuid4().hex}.eml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(bytes(message))
    return message


def outbox_messages() -> list[EmailMessage]:
    """Messages in the development outbox, oldest first (used by tests and the CLI)."""
    from email import policy
    from email.parser import BytesParser

    outbox = Path(current_app.config["MAIL_OUTBOX"])
    if not outbox.exists():
        return []
    files = sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime)
    return [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in files]
