"""The admin and author HTTP API: bearer tokens, the Starlette app over
:class:`driver.tenancy.control.Control`, its Hypercorn listener, and the
``jitrealm`` subcommands that talk to it (publish, versions, rollback,
tenant, quota, usage, errors, token).

Only :mod:`driver.tenancy.control` and its errors, the store's records and
the sandbox's plain-data protocol are imported from the rest of the project:
the API knows the server only through the ``Control`` protocol.

Choices: ``/metrics`` needs a root token even from loopback (a TLS proxy on
the same host would otherwise make it public; give Prometheus the token with
``authorization: {credentials_file: ...}``). ``/healthz``, the OpenAPI
document and the schemas need none. Failed authentications are limited per
client address (10 a minute, then 429 with Retry-After); behind a proxy that
is the proxy's address, so keep the listener on loopback or a private one.
"""
