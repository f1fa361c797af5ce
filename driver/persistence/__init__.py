"""Persistence: group commit with output commit, and restoring a world from
the store."""
