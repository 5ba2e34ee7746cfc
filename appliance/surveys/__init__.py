"""Satisfaction surveys: a link per booking in a message, one answer (1–5 stars and a comment)."""
