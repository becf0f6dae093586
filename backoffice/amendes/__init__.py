"""Fines paid by mobile money: JSON API and back-office pages."""
