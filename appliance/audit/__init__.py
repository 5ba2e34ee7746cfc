"""The audit trail: who did what to which record, written in the same transaction as the change; sealed
into a signed Merkle tree, exported and archived as bundles anyone can verify offline."""
