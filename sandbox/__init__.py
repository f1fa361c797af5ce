"""JitRealm's sandbox: the only part of JitRealm that touches wasmtime.

* :mod:`sandbox.protocol` is the vocabulary the driver speaks: hooks, limits,
  outcomes, typed effects, and the :class:`~sandbox.protocol.HostWorld` the
  caller passes to each invocation. Plain data; importing it loads nothing.
* :mod:`sandbox.runtime` runs components: engine, admission, invoke, the
  fast calling convention, `jitrealm invoke`.
* :mod:`sandbox.build` turns sources into components: toolchains and the
  world build.

Nothing in here knows about rooms, players or sessions.
"""
