"""Domain events: the versioned envelope and the transactional outbox."""
