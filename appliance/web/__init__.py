"""Server-rendered pages: the shared layout, templates, static files and i18n (see docs/architecture.md)."""
