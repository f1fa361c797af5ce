"""Who may call what: the access levels of the API's routes, and the check
of a caller's token against a route and the tenant it names.

Root may do anything; a tenant's admin and author tokens reach only their
own tenant, whatever name is written in the URL. A token of another tenant
gets 403 without learning whether the named tenant exists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from driver.store.records import TokenRow
from driver.tenancy.control import Role


class Access(enum.Enum):
    PUBLIC = "public"  # no token
    ANY = "any"  # any valid token (the handler narrows it)
    ROOT = "root"  # the server's operator
    ADMIN = "admin"  # root, or an admin of the tenant in the path
    MEMBER = "member"  # root, or an admin or author of the tenant in the path


@dataclass(frozen=True, slots=True)
class Caller:
    """The holder of a valid token."""

    token: TokenRow

    @property
    def role(self) -> Role:
        return Role(self.token.role)

    @property
    def tenant(self) -> str | None:
        return self.token.tenant

    def may(self, access: Access, tenant: str | None) -> bool:
        """Whether this caller may use a route of ``access`` on ``tenant``."""
        if access in (Access.PUBLIC, Access.ANY) or self.role is Role.ROOT:
            return True
        if access is Access.ROOT or tenant is None or tenant != self.tenant:
            return False
        if access is Access.ADMIN:
            return self.role is Role.ADMIN
        return self.role in (Role.ADMIN, Role.AUTHOR)

    def sees(self, row: TokenRow) -> bool:
        """Whether this caller may see (and revoke) the token ``row``: root
        any, a tenant's admin those of its tenant, an author its own."""
        if self.role is Role.ROOT:
            return True
        if self.role is Role.ADMIN:
            return row.tenant == self.tenant
        return row.hash == self.token.hash

    def may_create(self, role: Role) -> bool:
        """Root makes admin and author tokens; a tenant's admin, authors."""
        if self.role is Role.ROOT:
            return role in (Role.ADMIN, Role.AUTHOR)
        return self.role is Role.ADMIN and role is Role.AUTHOR
