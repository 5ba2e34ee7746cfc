"""Messages to customers and staff: templates, channels, the communication log."""
