"""Domain-free building blocks: errors, logging, database, HTTP plumbing, clock."""
