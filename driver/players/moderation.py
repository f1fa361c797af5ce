"""Moderation in game: what a world's admins can do to its players.

Accounts of a world are players, wizards or admins (an admin is a wizard
too). Admins, and only they, have the commands here:

    wizard <name>                       make a wizard of this world
    unwizard <name>                     and unmake one
    kick <player> [reason]              disconnect (the body is stowed, as on quit)
    ban <player|address> [for <30m|2h|7d>] [reason]
    unban <player|address>
    bans                                every ban in force, with its end
    broadcast <message>                 to every player of this world
    shutdown [seconds|now] [reason]     stop the server after a countdown
    shutdown cancel
    passwd <player>                     a new random password, shown once

A ban of an account refuses it at login (after its password, so nobody
learns from the refusal who is banned) with the time left; a ban of an
address (an IPv4 address or an IPv6 ``/64``) refuses new connections from
it at the login screen. Either kind disconnects whoever it covers at once.
Bans end by themselves (:mod:`driver.auth.bans`) and are kept in the
world's store: they survive restarts. Every action goes to the operators'
log (:mod:`driver.oplog`).

Admins cannot be kicked, banned, unwizarded or have their password reset
in game: that is for the operator.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Protocol

import trio

from driver import oplog
from driver.auth.accounts import DEFAULT_PARAMS, ScryptParams, hash_password, password_error
from driver.auth.bans import (
    ACCOUNT,
    ADDRESS,
    Bans,
    BanStore,
    MemoryBanStore,
    TableBanStore,
    describe_duration,
    parse_duration,
)
from driver.net.ansi import escape
from driver.net.session import Session
from driver.players.delivery import Delivery
from driver.players.presence import Presence
from driver.store.accounts import Account, AccountNotFound, AccountStore
from driver.store.records import BanRow
from driver.store.sqlite import SqliteAccounts, SqliteStore
from driver.tenancy.output import Text
from driver.world import ids
from driver.world.settings import WorldSettings

if TYPE_CHECKING:
    from driver.players.commands import Builtin, Context
    from driver.tenancy.tenant import Tenant

#: Announced at these many seconds left (those below the countdown's start).
COUNTDOWN_MARKS = (3600, 1800, 600, 300, 120, 60, 30, 10, 5, 4, 3, 2, 1)
DEFAULT_SHUTDOWN_SECONDS = 60
MAX_SHUTDOWN_SECONDS = 24 * 3600

ADMINHELP = """{bold}Admin commands{/}
  wizard <name>            make a wizard of this world; `unwizard <name>` unmakes one
  kick <player> [reason]   disconnect a player (their body is stowed, as on quit)
  ban <player|address> [for 30m|2h|7d] [reason]
                           refuse an account or an address (IPv4, IPv6 /64); for good
                           without a duration; disconnects them now
  unban <player|address>   lift a ban; `bans` lists them with their end
  broadcast <message>      tell every player of this world
  shutdown [secs] [reason] stop the server after a countdown (default 60 s);
                           `shutdown now`, `shutdown cancel`
  passwd <player>          reset a player's password to a new random one"""


class Connection(Protocol):
    """A connection as moderation sees it (the gateway's, logged in or not)."""

    address: str  # as driver.net.admission.address_key gives it
    player_id: str | None
    session: Session
    closed: bool


class Host(Protocol):
    """What moderation needs from the gateway."""

    tenant: Tenant
    presence: Presence
    delivery: Delivery
    accounts: AccountStore
    settings: WorldSettings
    kdf_params: ScryptParams | None
    kdf_limiter: trio.CapacityLimiter
    request_shutdown: Callable[[], None] | None

    @property
    def connections(self) -> Collection[Connection]: ...

    def leave(self, player_id: str, reason: str) -> None: ...
    def spawn(self, job: Callable[[], Awaitable[None]]) -> None: ...


def default_ban_store(accounts: AccountStore, tenant: str) -> BanStore:
    """Where a world keeps its bans: in the store its accounts are in, or
    (accounts in memory) in memory."""
    if isinstance(accounts, SqliteAccounts):
        return TableBanStore(accounts.store, accounts.tenant)
    if isinstance(accounts, SqliteStore):
        return TableBanStore(accounts, tenant)
    return MemoryBanStore()


def new_password(name: str) -> str:
    """A random password a person can type: 16 characters, 96 bits."""
    while True:
        password = secrets.token_urlsafe(12)
        if password_error(password, name) is None and not password.startswith("-"):
            return password


class Moderation:
    """A world's roles and moderation (see module docstring)."""

    def __init__(self, host: Host, bans: BanStore | None = None, *, ipv6_prefix: int = 64) -> None:
        self.host = host
        store = bans if bans is not None else default_ban_store(host.accounts, host.tenant.name)
        self.bans = Bans(store, host.tenant.name, ipv6_prefix=ipv6_prefix)
        #: How the countdown waits (tests make it faster).
        self.sleep: Callable[[float], Awaitable[None]] = trio.sleep
        self._countdown: trio.CancelScope | None = None
        self.shutdown_at: float | None = None  # trio time the countdown ends

    @property
    def tenant_name(self) -> str:
        return self.host.tenant.name

    @property
    def title(self) -> str:
        return self.host.settings.title

    def commands(self) -> dict[str, Builtin]:
        return {
            "wizard": self._wizard, "unwizard": self._unwizard, "kick": self._kick,
            "ban": self._ban, "unban": self._unban, "bans": self._bans,
            "broadcast": self._broadcast, "shutdown": self._shutdown, "passwd": self._passwd,
        }  # fmt: skip

    # -- at the door -----------------------------------------------------------------------

    def address_refusal(self, address: str) -> str | None:
        """Why a connection from ``address`` (an address key) is refused at
        the login screen, or None."""
        row = self.bans.of_address(address)
        if row is None:
            return None
        return (
            f"{{red}}This address is banned from {escape(self.title)} "
            f"{self.bans.describe_end(row)}.{{/}}" + _reason_suffix(row.reason)
        )

    def login_refusal(self, account: Account, address: str) -> str | None:
        """Why ``account`` (password checked) may not come in from ``address``, or None."""
        row = self.bans.of_account(account.name)
        if row is not None:
            oplog.event(oplog.LOGIN_REFUSED, self.tenant_name, name=account.name,
                        address=address, ban=ACCOUNT)  # fmt: skip
            return (
                f"{{red}}{account.name} is banned from {escape(self.title)} "
                f"{self.bans.describe_end(row)}.{{/}}" + _reason_suffix(row.reason)
            )
        refusal = self.address_refusal(address)
        if refusal is not None:
            oplog.event(oplog.LOGIN_REFUSED, self.tenant_name, name=account.name,
                        address=address, ban=ADDRESS)  # fmt: skip
        return refusal

    # -- helpers ---------------------------------------------------------------------------

    def _account(self, ctx: Context, name: str) -> Account | None:
        account = self.host.accounts.get(name) if name else None
        if account is None:
            ctx.say(f"There is no character called {escape(name or '(nobody)')}.")
        return account

    def _kick_player(self, player_id: str, text: str, reason: str) -> bool:
        """Tell and disconnect a character in the world; its body is stowed."""
        if player_id not in self.host.presence.links:
            return False
        self.host.delivery.text(player_id, text)
        self.host.leave(player_id, reason)
        return True

    def _kick_address(self, key: str, text: str, reason: str) -> int:
        """Disconnect every connection from ``key``, logged in or not."""
        count = 0
        for conn in list(self.host.connections):
            if conn.address != key or conn.closed:
                continue
            count += 1
            if conn.player_id is not None:
                self._kick_player(conn.player_id, text, reason)
            else:
                conn.session.send_text(text)
                conn.closed = True
                conn.session.close(reason)
        return count

    # -- roles -----------------------------------------------------------------------------

    async def _wizard(self, ctx: Context) -> None:
        account = self._account(ctx, ctx.args.strip())
        if account is None:
            return
        if account.is_wizard:
            ctx.say(f"{account.name} is already a wizard.")
            return
        self._set_wizard(ctx, account, True)

    async def _unwizard(self, ctx: Context) -> None:
        account = self._account(ctx, ctx.args.strip())
        if account is None:
            return
        if account.is_admin:
            ctx.say(f"{account.name} is an admin; only the operator can change that.")
            return
        if not account.is_wizard:
            ctx.say(f"{account.name} is not a wizard.")
            return
        self._set_wizard(ctx, account, False)

    def _set_wizard(self, ctx: Context, account: Account, on: bool) -> None:
        if self.set_wizard(account.name, on, by=ctx.player.name):
            ctx.say(f"{account.name} is {'now' if on else 'no longer'} a wizard.")
        else:
            ctx.say(f"There is no character called {account.name}.")

    def set_wizard(self, name: str, on: bool, *, by: str) -> bool:
        """Make (or unmake) the account ``name`` a wizard of this world, at
        once: kept in the store; if the character is in the game it gains (or
        loses) the wizard commands now and is told. Unmaking an admin makes
        them neither wizard nor admin. For the API too. False: no such account."""
        account = self.host.accounts.get(name)
        if account is None:
            return False
        changed = dataclasses.replace(account, is_wizard=on, is_admin=account.is_admin and on)
        try:
            self.host.accounts.update(changed)
        except AccountNotFound:
            return False
        player_id = ids.player_id(account.name)
        link = self.host.presence.links.get(player_id)
        if link is not None and link.is_wizard != on:
            link.is_wizard, link.is_admin = on, changed.is_admin
            if on:
                text = (f"{{bold green}}{escape(by)} has made you a wizard of {escape(self.title)}. "
                        "Type help for your new commands.{/}\n")  # fmt: skip
            else:
                text = (f"{{bold yellow}}{escape(by)} has taken away your wizard powers in "
                        f"{escape(self.title)}.{{/}}\n")  # fmt: skip
            self.host.delivery.text(player_id, text)
        oplog.event(oplog.WIZARD_MADE if on else oplog.WIZARD_UNMADE, self.tenant_name,
                    name=account.name, by=by)  # fmt: skip
        return True

    # -- kick and ban ----------------------------------------------------------------------

    async def _kick(self, ctx: Context) -> None:
        name, _, reason = ctx.args.strip().partition(" ")
        reason = reason.strip()
        if not name:
            ctx.say("Kick whom? (kick <player> [reason])")
            return
        account = self.host.accounts.get(name)
        player_id = ids.player_id(account.name if account else name)
        if player_id not in self.host.presence.links:
            ctx.say(f"{escape(account.name if account else name)} is not in the game.")
            return
        if player_id == ctx.player.id:
            ctx.say("You cannot kick yourself; type quit.")
            return
        if account is not None and account.is_admin:
            ctx.say(f"{account.name} is an admin; you cannot kick them.")
            return
        shown = account.name if account else name
        text = f"{{bold red}}You have been kicked from {escape(self.title)} by {ctx.player.name}"
        text += f": {escape(reason)}{{/}}\n" if reason else ".{/}\n"
        self._kick_player(player_id, text, "kicked")
        ctx.say(f"You kick {shown}.")
        oplog.event(oplog.KICK, self.tenant_name, name=shown, by=ctx.player.name, reason=reason)

    async def _ban(self, ctx: Context) -> None:
        words = ctx.args.split()
        if not words:
            ctx.say("Ban whom? (ban <player|address> [for 30m|2h|7d] [reason])")
            return
        who, rest = words[0], words[1:]
        seconds: float | None = None
        if rest and rest[0].lower() == "for":
            seconds = parse_duration(rest[1]) if len(rest) > 1 else None
            if seconds is None:
                ctx.say("For how long? A duration like 30m, 2h or 7d (without one: for good).")
                return
            rest = rest[2:]
        elif rest and parse_duration(rest[0]) is not None:
            seconds, rest = parse_duration(rest[0]), rest[1:]
        reason = " ".join(rest)
        kind, target = self.bans.target_of(who)
        if kind == ACCOUNT:
            account = self._account(ctx, who)
            if account is None:
                return
            if account.is_admin:
                ctx.say(f"{account.name} is an admin; you cannot ban them.")
                return
            shown = account.name
        else:
            shown = target
            for conn in self.host.connections:
                if conn.address == target and conn.player_id is not None:
                    if self.host.presence.is_admin(conn.player_id):
                        ctx.say(
                            f"An admin is connected from {target}; that address cannot be banned."
                        )
                        return
        row = self.bans.ban(kind, target, seconds=seconds, reason=reason, by=ctx.player.name)
        end = self.bans.describe_end(row)
        if kind == ACCOUNT:
            text = (f"{{bold red}}You have been banned from {escape(self.title)} {end} by "
                    f"{ctx.player.name}{{/}}" + _reason_suffix(reason))  # fmt: skip
            kicked = int(self._kick_player(ids.player_id(shown), text, "banned"))
        else:
            text = (f"{{bold red}}This address has been banned from {escape(self.title)} {end}.{{/}}"
                    + _reason_suffix(reason))  # fmt: skip
            kicked = self._kick_address(target, text, "banned")
        ctx.say(f"Banned {kind} {shown} {end}." + (f" ({kicked} disconnected)" if kicked else ""))
        oplog.event(oplog.BAN, self.tenant_name, ban=kind, target=target, until=row.until,
                    by=ctx.player.name, reason=reason, disconnected=kicked)  # fmt: skip

    async def _unban(self, ctx: Context) -> None:
        who = ctx.args.strip()
        if not who:
            ctx.say("Unban whom? (unban <player|address>)")
            return
        kind, target = self.bans.target_of(who)
        if self.bans.unban(kind, target):
            ctx.say(f"The ban of {kind} {escape(target)} is lifted.")
            oplog.event(oplog.UNBAN, self.tenant_name, ban=kind, target=target, by=ctx.player.name)
        else:
            ctx.say(f"{escape(who)} is not banned.")

    async def _bans(self, ctx: Context) -> None:
        rows = self.bans.all_active()
        if not rows:
            ctx.say("Nobody is banned.")
            return
        lines = [f"{{bold}}{len(rows)} ban{'s' if len(rows) != 1 else ''}{{/}}"]
        for row in rows:
            reason = f": {escape(row.reason)}" if row.reason else ""
            lines.append(f"  {row.kind:<7} {escape(row.target):<24} {self.bans.describe_end(row)}, "
                         f"by {escape(row.by)}{reason}")  # fmt: skip
        ctx.say("\n".join(lines))

    # -- everyone --------------------------------------------------------------------------

    def _everyone(self, text: str) -> None:
        """Tell every connected player of this world, now."""
        for player_id in list(self.host.presence.links):
            self.host.delivery.send_now(player_id, Text(text))

    async def _broadcast(self, ctx: Context) -> None:
        message = ctx.args.strip()
        if not message:
            ctx.say("Broadcast what? (broadcast <message>)")
            return
        line = f"{{bold yellow}}[Broadcast] {ctx.player.name}: {escape(message)}{{/}}\n"
        for player_id, link in list(self.host.presence.links.items()):
            if link.session is not None:
                ctx.console.text(player_id, line)
        oplog.event(oplog.BROADCAST, self.tenant_name, by=ctx.player.name, message=message)

    async def _shutdown(self, ctx: Context) -> None:
        words = ctx.args.split()
        if words and words[0].lower() == "cancel":
            if self._countdown is None:
                ctx.say("No shutdown is under way.")
                return
            self._countdown.cancel()
            self._countdown = self.shutdown_at = None
            self._everyone(f"{{bold green}}The shutdown is cancelled by {ctx.player.name}.{{/}}\n")
            oplog.event(oplog.SHUTDOWN_CANCELLED, self.tenant_name, by=ctx.player.name)
            return
        if self.host.request_shutdown is None:
            ctx.say("Shutdown is not available on this server.")
            return
        if self._countdown is not None:
            left = max(0.0, (self.shutdown_at or 0.0) - trio.current_time())
            ctx.say(f"A shutdown is already under way ({describe_duration(left)} left); "
                    "`shutdown cancel` first.")  # fmt: skip
            return
        seconds = DEFAULT_SHUTDOWN_SECONDS
        if words and words[0].lower() == "now":
            seconds, words = 0, words[1:]
        elif words and words[0].isdigit():
            seconds, words = min(int(words[0]), MAX_SHUTDOWN_SECONDS), words[1:]
        elif words and parse_duration(words[0]) is not None:
            seconds = int(min(parse_duration(words[0]) or 0, MAX_SHUTDOWN_SECONDS))
            words = words[1:]
        reason = " ".join(words)
        scope = self._countdown = trio.CancelScope()
        self.shutdown_at = trio.current_time() + seconds
        oplog.event(oplog.SHUTDOWN, self.tenant_name, by=ctx.player.name, seconds=seconds,
                    reason=reason)  # fmt: skip
        ctx.say(f"Shutting down in {describe_duration(seconds) if seconds else 'no time'}; "
                "`shutdown cancel` stops it.")  # fmt: skip
        by = ctx.player.name

        async def countdown() -> None:
            with scope:
                left = float(seconds)
                if left > 0:
                    self._announce(left, reason, by)
                for mark in COUNTDOWN_MARKS:
                    if mark < left:
                        await self.sleep(left - mark)
                        left = mark
                        self._announce(left, reason, by)
                if left > 0:
                    await self.sleep(left)
                if self._countdown is scope:
                    self._countdown = self.shutdown_at = None
                stop = self.host.request_shutdown
                if stop is not None:
                    self._everyone("{bold red}The server is shutting down now.{/}\n")
                    stop()

        self.host.spawn(countdown)

    def _announce(self, left: float, reason: str, by: str) -> None:
        text = f"{{bold red}}The server will shut down in {describe_duration(left)}"
        text += f" ({escape(reason)})" if reason else ""
        text += f", by order of {by}.{{/}}\n" if left >= 60 else ".{/}\n"
        self._everyone(text)

    # -- passwords -------------------------------------------------------------------------

    async def _passwd(self, ctx: Context) -> None:
        account = self._account(ctx, ctx.args.strip())
        if account is None:
            return
        if account.is_admin and account.key != ctx.player.name.lower():
            ctx.say(f"{account.name} is an admin; only the operator can reset that password.")
            return
        host, admin_id, admin_name = self.host, ctx.player.id, ctx.player.name
        password = new_password(account.name)
        params = host.kdf_params or DEFAULT_PARAMS
        ctx.say(f"Resetting the password of {account.name}...")

        async def job() -> None:
            # The KDF runs in a worker thread, as at login: the world goes on.
            encoded = await trio.to_thread.run_sync(
                hash_password, password, params, limiter=host.kdf_limiter
            )
            current = host.accounts.get(account.name)
            report: str
            if current is None:
                report = f"{{red}}{account.name} no longer exists.{{/}}\n"
            else:
                try:
                    host.accounts.update(dataclasses.replace(current, password_hash=encoded))
                except AccountNotFound:
                    report = f"{{red}}{account.name} no longer exists.{{/}}\n"
                else:
                    report = (f"The new password of {account.name} is: {{bold}}{password}{{/}}  "
                              "(shown once; give it to them privately)\n")  # fmt: skip
                    oplog.event(oplog.PASSWD, self.tenant_name, name=account.name, by=admin_name)
                    target = ids.player_id(account.name)
                    if target != admin_id:
                        host.delivery.send_now(target, Text(
                            f"{{bold yellow}}{admin_name} has reset your password; "
                            "ask them for the new one.{/}\n"))  # fmt: skip

            async def tell() -> None:
                host.delivery.text(admin_id, report)

            host.tenant.enqueue_command(admin_id, tell, always=True)

        host.spawn(job)


def _reason_suffix(reason: str) -> str:
    return f"\nReason: {escape(reason)}\n" if reason else "\n"


__all__ = ["ADMINHELP", "BanRow", "Host", "Moderation", "default_ban_store", "new_password"]
