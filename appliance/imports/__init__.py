"""Importing customers and past bookings from CSV and XLSX files, as background jobs."""
