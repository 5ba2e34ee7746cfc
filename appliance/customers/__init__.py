"""Customers (客户): who books, and the CRM around them — profile, tags, notes, facts from their bookings,
points and membership tiers. Field encryption (issue 5) builds on `queries.find_customer_ids`."""
