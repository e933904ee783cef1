"""Tethys Platform's public expectations of the jobs API, one module per Tethys class."""
