"""Entrypoints: settings, the composition root, the command line and the HTTP API."""
