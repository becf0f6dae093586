"""Fines payments, API clients and their timelines (see the fines area)."""
