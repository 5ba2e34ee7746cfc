"""Customers (客户): who books. The CRM (issue 6) and field encryption (issue 5) build on this."""
