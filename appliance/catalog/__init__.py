"""Branches, services and resources: what can be booked, where."""
