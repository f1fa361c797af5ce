"""A tenant's world in motion: events in order, hooks run through a runtime,
their outcomes applied all or nothing, blueprints and versions, quotas, and
the loop that gives every tenant its turn."""
