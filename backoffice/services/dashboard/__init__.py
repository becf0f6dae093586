"""The organisation dashboard: rollups of final batches, figures for a period, CSV, home sections."""
