"""JitRealm's driver: the trusted process that owns objects, scheduling,
routing, sessions and persistence, and runs world code through :mod:`sandbox`."""
