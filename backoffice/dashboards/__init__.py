"""Dashboards area: figures, accounts, audit log, beneficiary lists, payee providers."""
