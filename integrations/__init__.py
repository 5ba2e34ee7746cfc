"""Integration plugins, one package each."""
