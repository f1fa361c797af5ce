"""The admin and author HTTP API: bearer tokens, the Starlette app over
:class:`driver.tenancy.control.Control`, its Hypercorn listener, and the
``jitrealm`` subcommands that talk to it (publish, versions, rollback,
tenant, quota, usage, errors, token).

Only :mod:`driver.tenancy.control` and its errors, the store's records and
the sandbox's plain-data protocol are imported from the rest of the project:
the API knows the server only through the ``Control`` protocol.
"""
