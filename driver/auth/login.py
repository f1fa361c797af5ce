"""The login screen, as a sans-IO state machine.

:class:`Login` takes input lines and returns *actions*; it never touches a
socket, a thread or the clock beyond an injected function, so the same
machine serves telnet and WebSocket and is tested with plain lists.

Two ways in, both always available at the name prompt:

* one-line commands, the TinyMUD/Evennia convention that scripts and bots
  rely on: ``connect <name> <password>`` and ``create <name> <password>``;
* a prompted flow for people: type a name, then the password (with an
  echo-off hint so telnet can hide it); an unknown name offers to create the
  character and asks for the password twice.

Plus ``who``, ``help`` and ``quit``.

Password hashing is slow on purpose (see :mod:`driver.auth.accounts`), so the
machine never does it: it returns :class:`HashPassword` or
:class:`VerifyPassword`, and the driver runs ``action.compute`` in a worker
thread and feeds the answer back with :meth:`Login.password_hashed` or
:meth:`Login.password_checked`. Lines that arrive meanwhile are held and
handled afterwards (or, after a successful login, handed over in
:attr:`LoggedIn.pending`), so a bot may send ``connect`` and its first
commands in one go. A driver loop looks like::

    for action in login.on_line(text):
        match action:
            case Show(text):
                session.send_text(text)
            case Prompt(text):
                session.send_prompt(text)
            case EchoOff() | EchoOn():
                ...  # telnet: IAC WILL ECHO / IAC WONT ECHO + newline
            case ShowWho():
                ...  # the same list the in-game `who` prints
            case HashPassword() | VerifyPassword():
                ...  # result = await trio.to_thread.run_sync(action.compute,
                     #                                         limiter=kdf_limiter)
                     # then feed login.password_hashed / password_checked(result)
            case LoggedIn():
                ...  # hand the session to the game, replay action.pending
            case Disconnect():
                session.close(action.reason)

Text is in JitRealm colour markup (:mod:`driver.net.ansi`); the only
user input ever echoed back is a name that passed validation (letters only),
so nothing needs escaping. Every :class:`Show` ends in a newline.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from driver.auth.accounts import (
    DEFAULT_PARAMS,
    LoginThrottle,
    PasswordCheck,
    ScryptParams,
    display_name,
    hash_password,
    name_error,
    new_account,
    new_name_error,
    password_error,
    record_login,
    verify_and_upgrade,
)
from driver.store.accounts import Account, AccountExists, AccountNotFound, AccountStore

# --------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Show:
    """Text for the player; ends in a newline. Send with ``session.send_text``."""

    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt (no newline). Send with ``session.send_prompt``."""

    text: str


@dataclass(frozen=True, slots=True)
class EchoOff:
    """The next line is a password: telnet should send IAC WILL ECHO (and not
    echo); a WebSocket client should use a password field."""


@dataclass(frozen=True, slots=True)
class EchoOn:
    """The password line has arrived: telnet should send IAC WONT ECHO and a
    newline (the client did not echo the user's Enter)."""


@dataclass(frozen=True, slots=True)
class ShowWho:
    """Show who is playing, as the in-game ``who`` does. The login screen
    knows nothing of the world, so the driver renders the list."""


@dataclass(frozen=True, slots=True)
class HashPassword:
    """Run :meth:`compute` in a worker thread, then call
    :meth:`Login.password_hashed` with its result."""

    password: str = field(repr=False)
    params: ScryptParams

    def compute(self) -> str:
        return hash_password(self.password, self.params)


@dataclass(frozen=True, slots=True)
class VerifyPassword:
    """Run :meth:`compute` in a worker thread, then call
    :meth:`Login.password_checked` with its result."""

    password: str = field(repr=False)
    encoded: str = field(repr=False)
    params: ScryptParams

    def compute(self) -> PasswordCheck:
        return verify_and_upgrade(self.password, self.encoded, self.params)


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """Login finished: the session now belongs to ``account``.

    ``created`` says whether the account was made just now. ``pending`` holds
    lines the client sent while the password was being checked, in order; the
    game should handle them as commands. ``previous_login`` is the account's
    last login before this one (None for a new account).
    """

    account: Account
    created: bool
    pending: tuple[str, ...] = ()
    previous_login: float | None = None

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def is_wizard(self) -> bool:
        return self.account.is_wizard

    @property
    def is_admin(self) -> bool:
        return self.account.is_admin


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close the connection. What to tell the player was already shown;
    ``reason`` is for the log."""

    reason: str


Action = (
    Show
    | Prompt
    | EchoOff
    | EchoOn
    | ShowWho
    | HashPassword
    | VerifyPassword
    | LoggedIn
    | Disconnect
)

# --------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------

# In colour markup (driver.net.ansi): plain clients get the art uncoloured.
BANNER = r"""{cyan}
     _ _ _   ____            _
    | (_) |_|  _ \ ___  __ _| |_ __ ___
 _  | | | __| |_) / _ \/ _` | | '_ ` _ \
| |_| | | |_|  _ <  __/ (_| | | | | | | |
 \___/|_|\__|_| \_\___|\__,_|_|_| |_| |_|
{/}
Welcome to {bold}JitRealm{/}.

"""

HELP = """\
Type your character's name to log in, or a new name to create a character.
  connect <name> <password>   log in with one line
  create <name> <password>    create a character with one line
  who                         see who is playing
  quit                        leave
"""

NAME_PROMPT = "What is your name? "
PASSWORD_PROMPT = "Password: "
NEW_PASSWORD_PROMPT = "Choose a password (at least 6 characters): "
CONFIRM_PASSWORD_PROMPT = "Type the password again: "

# Longest line the login screen reads. The longest sensible input is
# ``create`` + a 16-letter name + a 128-byte password.
MAX_LINE_CHARS = 256
# Lines held while a password is being checked; more than this is not typing.
MAX_PENDING_LINES = 32
# Wrong passwords in one connection before it is closed.
MAX_SESSION_FAILURES = 3

_YES = frozenset({"y", "yes"})
_NO = frozenset({"n", "no"})


def _show(text: str) -> Show:
    return Show(text if text.endswith("\n") else text + "\n")


def _seconds(wait: float) -> str:
    n = max(1, math.ceil(wait))
    return f"{n} second" if n == 1 else f"{n} seconds"


def _minutes(wait: float) -> str:
    if wait < 60:
        return _seconds(wait)
    n = math.ceil(wait / 60)
    return "1 minute" if n == 1 else f"{n} minutes"


def peer_host(peer: str) -> str:
    """The host part of a ``ClientInfo.peer`` (``1.2.3.4:5678`` -> ``1.2.3.4``,
    ``[::1]:5678`` -> ``::1``): throttling counts per address, not per port."""
    if peer.startswith("["):
        return peer[1 : peer.find("]")] if "]" in peer else peer
    try:
        return str(ipaddress.ip_address(peer))  # a bare address, no port
    except ValueError:
        pass
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() else peer


# --------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------


class Stage(enum.Enum):
    NAME = "name"  # at the name prompt: names and commands
    PASSWORD = "password"  # password of an existing character
    CONFIRM_NEW = "confirm-new"  # "create a character called X?"
    NEW_PASSWORD = "new-password"  # first password for a new character
    CONFIRM_PASSWORD = "confirm-password"  # the same password again
    CHECKING = "checking"  # waiting for VerifyPassword's result
    HASHING = "hashing"  # waiting for HashPassword's result
    DONE = "done"  # logged in or disconnected


class LoginStateError(RuntimeError):
    """The driver fed the machine a result it did not ask for (a bug)."""


class Login:
    """One connection's login screen.

    ``address`` is the client's host (see :func:`peer_host`), the key for
    per-address throttling. ``clock`` is wall-clock seconds, used for the
    account's ``created_at`` and ``last_login``. Once :attr:`done`, further
    input is ignored (returns no actions).
    """

    def __init__(
        self,
        store: AccountStore,
        throttle: LoginThrottle,
        address: str,
        *,
        params: ScryptParams = DEFAULT_PARAMS,
        clock: Callable[[], float] = time.time,
        banner: str = BANNER,
        max_session_failures: int = MAX_SESSION_FAILURES,
        title: str = "JitRealm",
        refuse: Callable[[Account], str | None] | None = None,
    ) -> None:
        self._title = title  # the world's name, for the greeting
        # Why an account that gave the right password may not come in (a
        # ban), as text for the player; None: it may.
        self._refuse = refuse
        self._store = store
        self._throttle = throttle
        self._address = address
        self._params = params
        self._clock = clock
        self._banner = banner
        self._max_failures = max_session_failures
        self.stage = Stage.NAME
        self._failures = 0
        self._echo_off = False
        self._name = ""  # display name being logged in or created
        self._new_password = ""  # held between NEW_PASSWORD and CONFIRM_PASSWORD
        self._one_line = False  # did the password come from a `connect` line?
        self._checking: tuple[str, str] = ("", "")  # (account key, hash) being verified
        self._held: deque[str] = deque()

    @property
    def done(self) -> bool:
        return self.stage is Stage.DONE

    @property
    def name(self) -> str:
        """The name being logged in or created ("" at the name prompt)."""
        return self._name

    @property
    def busy(self) -> bool:
        """Waiting for a KDF result; input lines are held."""
        return self.stage in (Stage.CHECKING, Stage.HASHING)

    # -- entry points ------------------------------------------------------

    def start(self) -> list[Action]:
        """The welcome screen: banner, instructions, name prompt."""
        return [_show(self._banner), _show(HELP), Prompt(NAME_PROMPT)]

    def on_line(self, line: str) -> list[Action]:
        """Handle one input line (without its line ending)."""
        if self.done:
            return []
        if self.busy:
            if len(self._held) < MAX_PENDING_LINES:
                self._held.append(line)
            return []
        return self._handle(line)

    def password_hashed(self, encoded: str) -> list[Action]:
        """The result of a :class:`HashPassword` action."""
        if self.stage is not Stage.HASHING:
            raise LoginStateError(f"no password hash was requested (stage {self.stage.value})")
        now = self._clock()
        account = record_login(new_account(self._name, encoded, now=now), now)
        try:
            self._store.create(account)
        except AccountExists:
            self._throttle.creation_failed(self._address)  # nothing was made: not counted
            actions: list[Action] = [
                _show(f"Someone else just took the name {account.name}; please choose another.")
            ]
            return actions + self._to_name() + self._drain()
        self.stage = Stage.DONE
        return [
            _show(f"Welcome to {self._title}, {account.name}!"),
            LoggedIn(account, created=True, pending=self._take_held()),
        ]

    def password_checked(self, result: PasswordCheck) -> list[Action]:
        """The result of a :class:`VerifyPassword` action."""
        if self.stage is not Stage.CHECKING:
            raise LoginStateError(f"no password check was requested (stage {self.stage.value})")
        key, checked_hash = self._checking
        self._checking = ("", "")
        if result.ok:
            return self._logged_in(key, checked_hash, result.new_hash)
        self._throttle.attempt_failed(self._address, key)
        self._failures += 1
        actions: list[Action] = [_show("Wrong password.")]
        if self._failures >= self._max_failures:
            self.stage = Stage.DONE
            return actions + [
                _show("Too many failed attempts. Goodbye."),
                Disconnect("too many failed logins"),
            ]
        wait = self._throttle.retry_after(self._address, key)
        if wait > 0:
            actions.append(_show(self._throttled_text(wait)))
            return actions + self._to_name() + self._drain()
        if self._one_line:
            return actions + self._to_name() + self._drain()
        self.stage = Stage.PASSWORD
        return actions + self._prompt() + self._drain()

    def password_throttled(self, wait: float) -> list[Action]:
        """Instead of a :class:`VerifyPassword` result: the driver did not run
        the check, because this address was locked out (``wait`` seconds) by
        other attempts decided while this one waited for its turn."""
        if self.stage is not Stage.CHECKING:
            raise LoginStateError(f"no password check was requested (stage {self.stage.value})")
        self._checking = ("", "")
        return [_show(self._throttled_text(wait)), *self._to_name(), *self._drain()]

    # -- dispatch ----------------------------------------------------------

    def _handle(self, line: str) -> list[Action]:
        actions: list[Action] = []
        if self._echo_off:
            # The user just pressed Enter on a hidden line.
            self._echo_off = False
            actions.append(EchoOn())
        if len(line) > MAX_LINE_CHARS:
            actions.append(
                _show(f"That line is too long (the limit is {MAX_LINE_CHARS} characters).")
            )
            return actions + self._prompt()
        line = line.strip()
        handler = {
            Stage.NAME: self._at_name,
            Stage.PASSWORD: self._at_password,
            Stage.CONFIRM_NEW: self._at_confirm_new,
            Stage.NEW_PASSWORD: self._at_new_password,
            Stage.CONFIRM_PASSWORD: self._at_confirm_password,
        }[self.stage]
        return actions + handler(line)

    def _prompt(self) -> list[Action]:
        """The prompt for the current stage (hiding input where needed)."""
        if self.stage is Stage.NAME:
            return [Prompt(NAME_PROMPT)]
        if self.stage is Stage.CONFIRM_NEW:
            return [Prompt(f"There is no character called {self._name}. Create it? (yes/no) ")]
        text = {
            Stage.PASSWORD: PASSWORD_PROMPT,
            Stage.NEW_PASSWORD: NEW_PASSWORD_PROMPT,
            Stage.CONFIRM_PASSWORD: CONFIRM_PASSWORD_PROMPT,
        }[self.stage]
        self._echo_off = True
        return [EchoOff(), Prompt(text)]

    def _to_name(self) -> list[Action]:
        self.stage = Stage.NAME
        self._name = ""
        self._new_password = ""
        return self._prompt()

    def _drain(self) -> list[Action]:
        """Handle lines held during a KDF call, until the next one starts."""
        actions: list[Action] = []
        while self._held and not self.busy and not self.done:
            actions += self._handle(self._held.popleft())
        return actions

    def _take_held(self) -> tuple[str, ...]:
        held = tuple(self._held)
        self._held.clear()
        return held

    def _quit(self) -> list[Action]:
        self.stage = Stage.DONE
        return [_show("Goodbye."), Disconnect("quit at login")]

    # -- stages ------------------------------------------------------------

    def _at_name(self, line: str) -> list[Action]:
        if not line:
            return self._prompt()
        words = line.split(None, 2)
        command = words[0].lower()
        if command == "quit":
            return self._quit()
        if command == "who":
            return [ShowWho(), *self._prompt()]
        if command in ("help", "?"):
            return [_show(HELP), *self._prompt()]
        if command == "new" and len(words) == 1:
            return [_show("To create a character, type the name you would like."), *self._prompt()]
        if command == "connect":
            if len(words) == 3:
                return self._connect(words[1], words[2], one_line=True)
            if len(words) == 2:
                return self._ask_password(words[1])
            return [_show("Usage: connect <name> <password>"), *self._prompt()]
        if command == "create":
            if len(words) == 3:
                return self._create(words[1], words[2], one_line=True)
            if len(words) == 2:
                return self._start_create(words[1], confirm=False)
            return [_show("Usage: create <name> <password>"), *self._prompt()]
        if len(words) > 1:
            return [
                _show(
                    "Names are a single word. To log in with one line, type: "
                    "connect <name> <password>"
                ),
                *self._prompt(),
            ]
        problem = name_error(line)
        if problem is not None:
            return [_show(problem), *self._prompt()]
        if self._store.get(line) is None:
            return self._start_create(line, confirm=True)
        return self._ask_password(line)

    def _ask_password(self, name: str) -> list[Action]:
        """Prompted login: check the name, then ask for the password."""
        problem = name_error(name)
        if problem is not None:
            return [_show(problem), *self._prompt()]
        account = self._store.get(name)
        if account is None:
            return [
                _show(f"There is no character called {display_name(name)}."),
                *self._prompt(),
            ]
        wait = self._throttle.retry_after(self._address, account.key)
        if wait > 0:
            # Refuse before the password is even typed.
            return [_show(self._throttled_text(wait)), *self._prompt()]
        self._name = account.name
        self.stage = Stage.PASSWORD
        return self._prompt()

    def _at_password(self, line: str) -> list[Action]:
        if not line:
            return [_show("Login cancelled."), *self._to_name()]
        return self._connect(self._name, line, one_line=False)

    def _connect(self, name: str, password: str, *, one_line: bool) -> list[Action]:
        problem = name_error(name)
        if problem is not None:
            return [_show(problem), *self._to_name()]
        account = self._store.get(name)
        if account is None:
            return [
                _show(
                    f"There is no character called {display_name(name)}. "
                    f"To make one, type: create {display_name(name)} <password>"
                ),
                *self._to_name(),
            ]
        wait = self._throttle.retry_after(self._address, account.key)
        if wait > 0:
            # Locked out: refused without looking at the password.
            return [_show(self._throttled_text(wait)), *self._to_name()]
        # Counted against the account before hashing, so that parallel
        # connections cannot run more guesses at it than the policy allows;
        # success clears it.
        self._throttle.attempt_started(self._address, account.key)
        self._name = account.name
        self._one_line = one_line
        self._checking = (account.key, account.password_hash)
        self.stage = Stage.CHECKING
        return [VerifyPassword(password, account.password_hash, self._params)]

    def _start_create(self, name: str, *, confirm: bool) -> list[Action]:
        problem = self._new_name_problem(name) or self._creation_problem()
        if problem is not None:
            return [_show(problem), *self._to_name()]
        self._name = display_name(name)
        self.stage = Stage.CONFIRM_NEW if confirm else Stage.NEW_PASSWORD
        return self._prompt()

    def _at_confirm_new(self, line: str) -> list[Action]:
        answer = line.lower()
        if answer in _YES:
            self.stage = Stage.NEW_PASSWORD
            return self._prompt()
        if answer in _NO:
            return self._to_name()
        if answer == "quit":
            return self._quit()
        return [_show("Please answer yes or no."), *self._prompt()]

    def _at_new_password(self, line: str) -> list[Action]:
        if not line:
            return [_show("Character creation cancelled."), *self._to_name()]
        problem = password_error(line, self._name)
        if problem is not None:
            return [_show(problem), *self._prompt()]
        self._new_password = line
        self.stage = Stage.CONFIRM_PASSWORD
        return self._prompt()

    def _at_confirm_password(self, line: str) -> list[Action]:
        password, self._new_password = self._new_password, ""
        if line != password:
            self.stage = Stage.NEW_PASSWORD
            return [_show("The passwords do not match; please try again."), *self._prompt()]
        return self._create(self._name, password, one_line=False)

    def _create(self, name: str, password: str, *, one_line: bool) -> list[Action]:
        problem = self._new_name_problem(name) or self._creation_problem()
        if problem is not None:
            return [_show(problem), *self._to_name()]
        problem = password_error(password, name)
        if problem is not None:
            if one_line:
                return [_show(problem), *self._to_name()]
            self.stage = Stage.NEW_PASSWORD
            return [_show(problem), *self._prompt()]
        self._name = display_name(name)
        self.stage = Stage.HASHING
        # Counted before hashing, so parallel connections cannot create
        # more than the rate allows; given back if the name is taken meanwhile.
        self._throttle.record_creation(self._address)
        return [HashPassword(password, self._params)]

    # -- helpers -----------------------------------------------------------

    def _new_name_problem(self, name: str) -> str | None:
        problem = new_name_error(name)
        if problem is None and self._store.get(name) is not None:
            problem = f"The name {display_name(name)} is already taken."
        return problem

    def _creation_problem(self) -> str | None:
        wait = self._throttle.creation_retry_after(self._address)
        if wait <= 0:
            return None
        return (
            "Too many characters have been created from your address recently. "
            f"Please try again in {_minutes(wait)}."
        )

    def _logged_in(self, key: str, checked_hash: str, new_hash: str | None) -> list[Action]:
        account = self._store.get(key)
        if account is None or account.password_hash != checked_hash:
            # Deleted or re-passworded while we were hashing: the check
            # we just did was against a record that no longer exists.
            return [
                _show("That character changed while you were logging in; please try again."),
                *self._to_name(),
                *self._drain(),
            ]
        self._throttle.record_success(self._address, key)
        refusal = self._refuse(account) if self._refuse is not None else None
        if refusal is not None:
            self.stage = Stage.DONE
            return [_show(refusal), Disconnect("refused: " + refusal)]
        updated = record_login(account, self._clock(), new_hash)
        try:
            self._store.update(updated)
        except AccountNotFound:
            return [
                _show("That character changed while you were logging in; please try again."),
                *self._to_name(),
                *self._drain(),
            ]
        self.stage = Stage.DONE
        greeting = f"Welcome back, {updated.name}."
        if account.last_login is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(account.last_login))
            greeting += f" Your last login was {stamp}."
        return [
            _show(greeting),
            LoggedIn(
                updated,
                created=False,
                pending=self._take_held(),
                previous_login=account.last_login,
            ),
        ]

    @staticmethod
    def _throttled_text(wait: float) -> str:
        return (
            "Too many failed login attempts for that character or from your address. "
            f"Please wait {_seconds(wait)} and try again."
        )
