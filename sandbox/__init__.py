"""JitRealm's sandbox: the only part of JitRealm that touches wasmtime.

The driver talks to it through :mod:`sandbox.api` (plain data: limits,
outcomes, effects) and the :class:`sandbox.host.Sandbox` object. Nothing in
here knows about rooms, players or sessions; the world is reached through the
:class:`sandbox.api.HostWorld` protocol the caller passes to each invocation.
"""
