"""Bookings: the availability engine, booking actions, the state machine and self-service."""
