"""`appliance keys`: the key ring of field encryption (create, inspect) and data-key rotation."""
