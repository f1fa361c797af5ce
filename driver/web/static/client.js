/*
 * JitRealm browser client.
 *
 * Speaks the gmcp.mudstandards.org WebSocket subprotocol on /ws of the page's
 * own host: BINARY frames carry the terminal stream (UTF-8 with ANSI SGR
 * codes) both ways, TEXT frames carry GMCP ("Package.Name <json>").
 *
 * No dependencies and no build step: this file is served as is.
 */
"use strict";

(() => {
  const SUBPROTOCOL = "gmcp.mudstandards.org";
  const MAX_NODES = 4000; // scrollback, in rendered runs of text
  const TRIM_NODES = 800;
  const MAX_HISTORY = 300;
  const HISTORY_KEY = "jitrealm.history";
  const NAME_KEY = "jitrealm.name";

  const $ = (id) => document.getElementById(id);
  const output = $("output");
  const input = $("command");
  const overlay = $("login-overlay");

  // ---------------------------------------------------------------- ANSI ----

  // The 16 basic colours, tuned for a dark background; CSS owns the values.
  const basic = (i) => `var(--ansi-${i})`;

  function xterm256(n) {
    if (n < 16) return basic(n);
    if (n < 232) {
      const steps = [0, 95, 135, 175, 215, 255];
      const v = n - 16;
      return `rgb(${steps[Math.floor(v / 36)]},${steps[Math.floor(v / 6) % 6]},${steps[v % 6]})`;
    }
    const g = 8 + 10 * (n - 232);
    return `rgb(${g},${g},${g})`;
  }

  /** Renders a stream of text with ANSI escape codes into DOM spans. */
  class AnsiRenderer {
    constructor(target) {
      this.target = target;
      this.pending = ""; // an escape sequence cut by a frame boundary
      this.resetStyle();
    }

    resetStyle() {
      this.fg = null; // {index} | {rgb}
      this.bg = null;
      this.bold = false;
      this.dim = false;
      this.italic = false;
      this.underline = false;
      this.inverse = false;
      this.strike = false;
      this.hidden = false;
    }

    write(chunk) {
      let text = this.pending + chunk;
      this.pending = "";
      let start = 0;
      for (let i = 0; i < text.length; ) {
        if (text.charCodeAt(i) !== 0x1b) {
          i++;
          continue;
        }
        this.emit(text.slice(start, i));
        const end = this.escape(text, i);
        if (end < 0) {
          // Incomplete: keep it for the next frame (bounded, in case of junk).
          const rest = text.slice(i);
          this.pending = rest.length < 256 ? rest : "";
          return;
        }
        i = start = end;
      }
      this.emit(text.slice(start));
    }

    /** Handle the escape sequence at text[i]; returns the index after it, or -1. */
    escape(text, i) {
      const kind = text[i + 1];
      if (kind === undefined) return -1;
      if (kind === "[") {
        for (let j = i + 2; j < text.length; j++) {
          const c = text.charCodeAt(j);
          if (c >= 0x40 && c <= 0x7e) {
            if (text[j] === "m") this.sgr(text.slice(i + 2, j));
            return j + 1; // other CSI sequences (cursor moves) are ignored
          }
        }
        return -1;
      }
      if (kind === "]") {
        // OSC: skipped, up to BEL or ST.
        for (let j = i + 2; j < text.length; j++) {
          if (text[j] === "\x07") return j + 1;
          if (text[j] === "\x1b" && text[j + 1] === "\\") return j + 2;
        }
        return -1;
      }
      return i + 2;
    }

    sgr(params) {
      const p = params === "" ? [0] : params.split(/[;:]/).map((x) => (x === "" ? 0 : Number(x)));
      for (let k = 0; k < p.length; k++) {
        const n = p[k];
        if (n === 0) this.resetStyle();
        else if (n === 1) this.bold = true;
        else if (n === 2) this.dim = true;
        else if (n === 3) this.italic = true;
        else if (n === 4 || n === 21) this.underline = true;
        else if (n === 7) this.inverse = true;
        else if (n === 8) this.hidden = true;
        else if (n === 9) this.strike = true;
        else if (n === 22) this.bold = this.dim = false;
        else if (n === 23) this.italic = false;
        else if (n === 24) this.underline = false;
        else if (n === 27) this.inverse = false;
        else if (n === 28) this.hidden = false;
        else if (n === 29) this.strike = false;
        else if (n >= 30 && n <= 37) this.fg = { index: n - 30 };
        else if (n === 39) this.fg = null;
        else if (n >= 40 && n <= 47) this.bg = { index: n - 40 };
        else if (n === 49) this.bg = null;
        else if (n >= 90 && n <= 97) this.fg = { index: n - 90 + 8 };
        else if (n >= 100 && n <= 107) this.bg = { index: n - 100 + 8 };
        else if (n === 38 || n === 48) {
          let colour = null;
          if (p[k + 1] === 5 && k + 2 < p.length) {
            colour = { index: p[k + 2] & 255 };
            k += 2;
          } else if (p[k + 1] === 2 && k + 4 < p.length) {
            const [r, g, b] = p.slice(k + 2, k + 5).map((v) => Math.max(0, Math.min(255, v)));
            colour = { rgb: `rgb(${r},${g},${b})` };
            k += 4;
          } else {
            break;
          }
          if (n === 38) this.fg = colour;
          else this.bg = colour;
        }
      }
    }

    colour(c, bright) {
      if (!c) return null;
      if (c.rgb) return c.rgb;
      // Bold shows the basic colours bright, as MUDs have long expected.
      const index = bright && c.index < 8 ? c.index + 8 : c.index;
      return xterm256(index);
    }

    emit(raw) {
      if (!raw) return;
      // Terminal streams end lines with CRLF; drop other control characters.
      const text = raw.replace(/\r\n?/g, "\n").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
      if (!text) return;
      let fg = this.colour(this.fg, this.bold);
      let bg = this.colour(this.bg, false);
      if (this.inverse) {
        [fg, bg] = [bg || "var(--term-bg)", fg || "var(--term-fg)"];
      }
      const plain = !fg && !bg && !this.bold && !this.dim && !this.italic &&
        !this.underline && !this.strike && !this.hidden;
      if (plain) {
        appendNode(document.createTextNode(text));
        return;
      }
      const span = document.createElement("span");
      span.textContent = text;
      if (fg) span.style.color = fg;
      if (bg) span.style.backgroundColor = bg;
      if (this.bold) span.classList.add("b");
      if (this.dim) span.classList.add("dim");
      if (this.italic) span.classList.add("i");
      if (this.underline) span.classList.add("u");
      if (this.strike) span.classList.add("s");
      if (this.hidden) span.classList.add("hidden");
      appendNode(span);
    }
  }

  // -------------------------------------------------------------- output ----

  let tail = ""; // text since the last line end, to spot password prompts

  // Output follows the newest line unless the player scrolled back to read.
  // That is a decision the player makes by scrolling, remembered here: a
  // layout change (a window narrowed to phone width, the panel opening)
  // makes the text taller without any scrolling, and must not count as
  // "scrolled back". A resize re-follows; only a scroll away from the
  // bottom stops it, and scrolling back down (or the button) resumes it.
  let following = true;
  const atBottom = () => output.scrollHeight - output.scrollTop - output.clientHeight < 48;

  function follow() {
    if (following) output.scrollTop = output.scrollHeight;
    $("jump-latest").hidden = following;
  }

  output.addEventListener("scroll", () => {
    following = atBottom();
    $("jump-latest").hidden = following;
  });
  new ResizeObserver(follow).observe(output);
  $("jump-latest").addEventListener("click", () => {
    following = true;
    follow();
    input.focus();
  });

  function appendNode(node) {
    output.appendChild(node);
    const text = node.textContent;
    const nl = text.lastIndexOf("\n");
    tail = nl >= 0 ? text.slice(nl + 1) : (tail + text).slice(-200);
    if (output.childNodes.length > MAX_NODES) {
      for (let i = 0; i < TRIM_NODES && output.firstChild; i++) output.removeChild(output.firstChild);
    }
    follow();
  }

  function note(text, kind = "system") {
    const span = document.createElement("span");
    span.className = kind;
    span.textContent = text;
    if (tail !== "") appendNode(document.createTextNode("\n"));
    appendNode(span);
    appendNode(document.createTextNode("\n"));
  }

  const ansi = new AnsiRenderer(output);

  // ---------------------------------------------------------- connection ----

  const encoder = new TextEncoder();
  let decoder = new TextDecoder("utf-8");
  let socket = null;
  let queued = []; // lines typed before the socket was open
  let everConnected = false;
  let loggedIn = false; // this connection got past the login screen

  // Reconnecting: after a connection is lost (or the server restarts) the
  // client tries again on its own, waiting longer each time (with jitter,
  // so a restarted server is not hit by every page at once). The scrollback
  // stays. Only a close the player chose (quit, a login elsewhere) does not
  // come back by itself.
  const RETRY_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  const FINAL_CLOSES = /^(quit|quit at login|taken over|too many failed logins)$/;
  let retries = 0;
  let retryTimer = null;
  let retryTick = null;

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    clearInterval(retryTick);
    const delay = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)] * (0.8 + 0.4 * Math.random());
    retries++;
    const due = Date.now() + delay;
    const show = () => setStatus("connecting", `Reconnecting in ${Math.max(1, Math.ceil((due - Date.now()) / 1000))} s`);
    show();
    retryTick = setInterval(show, 1000);
    retryTimer = setTimeout(() => {
      clearInterval(retryTick);
      connect();
    }, delay);
  }

  function reconnectNow() {
    clearTimeout(retryTimer);
    clearInterval(retryTick);
    connect();
  }

  window.addEventListener("online", () => {
    if (!socket) reconnectNow();
  });

  function setStatus(state, text) {
    const status = $("status");
    status.dataset.state = state;
    $("status-text").textContent = text;
  }

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(retryTick);
    if (socket && socket.readyState <= WebSocket.OPEN) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    decoder = new TextDecoder("utf-8");
    ansi.pending = "";
    setStatus("connecting", "Connecting");
    // Beside the page: /ws for the server's default world, /t/<world>/ws
    // for the page served at /t/<world>/.
    const base = location.pathname.replace(/[^/]*$/, "");
    socket = new WebSocket(`${scheme}//${location.host}${base}ws`, [SUBPROTOCOL]);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      const again = everConnected && retries > 0;
      everConnected = true;
      retries = 0;
      setStatus("online", "Connected");
      if (again) {
        note("Reconnected.");
        if (overlay.hidden && queued.length === 0) showLogin("Reconnected. Log in to carry on.");
      }
      sendGmcp("Core.Hello", { client: "JitRealm Web", version: "0.1" });
      sendGmcp("Core.Supports.Set", ["Core 1", "Char 1", "Char.Vitals 1", "Room 1", "Comm 1", "Realm.Room 1"]);
      const lines = queued;
      queued = [];
      for (const line of lines) socket.send(encoder.encode(line + "\n"));
    });
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string") onGmcp(event.data);
      else ansi.write(decoder.decode(event.data, { stream: true }));
      updatePasswordMode();
    });
    socket.addEventListener("close", (event) => {
      setStatus("offline", "Offline");
      socket = null;
      loggedIn = false;
      loginFailed("The connection was lost; trying again.");
      $("login-button").textContent = "Reconnect";
      $("login-button").hidden = false;
      const why = event.reason ? `: ${event.reason}` : event.code === 1006 ? ": connection lost" : "";
      if (FINAL_CLOSES.test(event.reason || "")) {
        note(`Disconnected${why}. Log in again to play.`);
        everConnected = false;
        return;
      }
      note(retries === 0 && everConnected ? `Disconnected${why}. Reconnecting\u2026` : "Could not reach the server; trying again.");
      scheduleReconnect();
    });
  }

  function sendLine(line, { echo = line } = {}) {
    if (echo !== null) {
      const span = document.createElement("span");
      span.className = "echo";
      span.textContent = echo;
      appendNode(span);
      appendNode(document.createTextNode("\n"));
    }
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(encoder.encode(line + "\n"));
    } else {
      queued.push(line);
      connect();
    }
  }

  function sendGmcp(pkg, data) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(data === undefined ? pkg : `${pkg} ${JSON.stringify(data)}`);
    }
  }

  // ---------------------------------------------------------------- GMCP ----

  function onGmcp(message) {
    const space = message.indexOf(" ");
    const pkg = (space < 0 ? message : message.slice(0, space)).toLowerCase();
    let data = null;
    if (space >= 0) {
      try {
        data = JSON.parse(message.slice(space + 1));
      } catch (err) {
        return;
      }
    }
    if (pkg === "room.info") showRoom(data || {});
    else if (pkg === "char.vitals") showVitals(data || {});
    else if (pkg === "char.login.result") loginResult(data || {});
    else if (pkg === "char.login.rules") applyRules(data);
    else if (pkg === "char.status" || pkg === "char.name") {
      showWho(data || {});
      // In: a server that sends no Char.Login.Result says so this way.
      if (pendingLogin) loginResult({ success: true });
      loggedIn = true;
      $("login-button").hidden = true; // logged in: nothing to log in to
    }
    else if (pkg === "core.ping") sendGmcp("Core.Ping");
    else if (pkg.startsWith("realm.room.") && window.JitRealmRooms) {
      window.JitRealmRooms.onGmcp(pkg, data, sendGmcp); // a declarative room's view (rooms.js)
    }
  }

  const DIRECTIONS = {
    n: "north", s: "south", e: "east", w: "west",
    ne: "northeast", nw: "northwest", se: "southeast", sw: "southwest",
    u: "up", d: "down",
  };

  function exitList(exits) {
    // Room.Info exits: {"north": 1234, ...} (IRE style) or ["north", ...].
    if (Array.isArray(exits)) return exits.filter((e) => typeof e === "string");
    if (exits && typeof exits === "object") return Object.keys(exits);
    return [];
  }

  function showRoom(room) {
    if (window.JitRealmMap) window.JitRealmMap.update(room);
    $("room-name").textContent = room.name || "Somewhere";
    $("room-area").textContent = room.area || "";
    const exits = exitList(room.exits);
    const byDirection = new Map(exits.map((e) => [DIRECTIONS[e.toLowerCase()] || e.toLowerCase(), e]));
    for (const button of $("compass").querySelectorAll("button[data-dir]")) {
      const exit = byDirection.get(button.dataset.dir);
      button.disabled = exit === undefined;
      button.dataset.command = exit === undefined ? "" : exit;
      button.title = exit === undefined ? "" : exit;
    }
    const box = $("exits");
    box.replaceChildren();
    for (const exit of exits) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "exit";
      button.textContent = exit;
      button.dataset.command = exit;
      box.appendChild(button);
    }
  }

  const VITAL_NAMES = {
    hp: "Health", mp: "Mana", sp: "Stamina", ep: "Endurance", wp: "Willpower",
    xp: "Experience", mv: "Moves", nl: "To level",
  };

  function showVitals(vitals) {
    const box = $("vitals");
    box.replaceChildren();
    const keys = Object.keys(vitals);
    for (const key of keys) {
      const maxKey = keys.find((k) => k.toLowerCase() === `max${key.toLowerCase()}`);
      if (!maxKey) continue;
      const value = Number(vitals[key]);
      const max = Number(vitals[maxKey]);
      if (!Number.isFinite(value) || !Number.isFinite(max) || max <= 0) continue;
      const ratio = Math.max(0, Math.min(1, value / max));
      const row = document.createElement("div");
      row.className = "vital";
      row.dataset.kind = key.toLowerCase();
      const label = document.createElement("div");
      label.className = "vital-label";
      const name = document.createElement("span");
      name.textContent = VITAL_NAMES[key.toLowerCase()] || key;
      const numbers = document.createElement("span");
      numbers.className = "vital-numbers";
      numbers.textContent = `${value} / ${max}`;
      label.append(name, numbers);
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.setAttribute("role", "meter");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", String(max));
      bar.setAttribute("aria-valuenow", String(value));
      bar.setAttribute("aria-label", name.textContent);
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = `${(ratio * 100).toFixed(1)}%`;
      if (ratio < 0.25) fill.classList.add("low");
      bar.appendChild(fill);
      row.append(label, bar);
      box.appendChild(row);
    }
    $("vitals-card").hidden = box.childElementCount === 0;
  }

  function showWho(data) {
    const name = data.name || data.fullname;
    if (typeof name === "string") $("who").textContent = name;
  }

  // --------------------------------------------------------------- input ----

  let history = [];
  try {
    history = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]").slice(-MAX_HISTORY);
  } catch (err) {
    history = [];
  }
  let historyIndex = history.length;
  let draft = "";

  function remember(line) {
    if (!line.trim() || history[history.length - 1] === line) return;
    history.push(line);
    if (history.length > MAX_HISTORY) history.splice(0, history.length - MAX_HISTORY);
    try {
      localStorage.setItem(HISTORY_KEY, JSON.stringify(history));
    } catch (err) {
      /* storage full or disabled: history stays in memory */
    }
  }

  function isLoginCommand(line) {
    return /^\s*(connect|create)\s+\S+\s+\S/i.test(line);
  }

  function updatePasswordMode() {
    const secret = /pass(word|phrase)[^\n]*[:?]\s*$/i.test(tail);
    input.type = secret ? "password" : "text";
  }

  $("command-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const line = input.value;
    const secret = input.type === "password";
    input.value = "";
    input.type = "text";
    if (secret) {
      sendLine(line, { echo: "" });
    } else if (isLoginCommand(line)) {
      const [verb, name] = line.trim().split(/\s+/);
      sendLine(line, { echo: `${verb} ${name} ********` });
    } else {
      remember(line);
      sendLine(line);
    }
    historyIndex = history.length;
    draft = "";
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowUp") {
      if (historyIndex === 0) return;
      if (historyIndex === history.length) draft = input.value;
      historyIndex--;
      input.value = history[historyIndex];
    } else if (event.key === "ArrowDown") {
      if (historyIndex >= history.length) return;
      historyIndex++;
      input.value = historyIndex === history.length ? draft : history[historyIndex];
    } else if (event.key === "Escape") {
      input.value = "";
      historyIndex = history.length;
      return;
    } else {
      return;
    }
    event.preventDefault();
    const end = input.value.length;
    requestAnimationFrame(() => input.setSelectionRange(end, end));
  });

  // Clicking a command button (exits, compass) sends its command.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-command]");
    if (!button || button.disabled || !button.dataset.command) return;
    sendLine(button.dataset.command);
    input.focus();
  });

  // Typing anywhere goes to the command line (unless a form field has focus).
  document.addEventListener("keydown", (event) => {
    const active = document.activeElement;
    if (event.ctrlKey || event.metaKey || event.altKey || event.key.length !== 1) return;
    if (active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA")) return;
    if (!$("login-overlay").hidden) return;
    input.focus();
  });

  output.addEventListener("mouseup", () => {
    if (!window.getSelection().toString()) input.focus();
  });

  // --------------------------------------------------------------- login ----

  const nameField = $("login-name");
  const passwordField = $("login-password");
  const loginError = $("login-error");

  // The name and password rules are the server's (GMCP Char.Login.Rules,
  // made from the very constants it checks), never a copy kept here.
  let rules = null;
  let pendingLogin = null; // the form's connect/create, until the server answers
  let pendingTimer = null;

  function applyRules(found) {
    if (!found || !found.name || !found.password) return;
    rules = found;
    nameField.pattern = found.name.pattern;
    nameField.minLength = found.name.minLength;
    nameField.maxLength = found.name.maxLength;
    nameField.title = found.name.hint;
    $("login-name-hint").textContent = `Names: ${found.name.hint}`;
    $("login-password-hint").textContent = `New passwords: ${found.password.hint}`;
  }

  function showLogin(message = "") {
    overlay.hidden = false;
    loginError.textContent = message;
    loginError.dataset.kind = message ? "note" : "";
    (nameField.value ? passwordField : nameField).focus();
  }

  function hideLogin() {
    overlay.hidden = true;
    input.focus();
  }

  function setLoginBusy(busy) {
    $("login-form").setAttribute("aria-busy", String(busy));
    for (const button of $("login-form").querySelectorAll("button[type=submit]")) button.disabled = busy;
    if (busy) {
      loginError.dataset.kind = "note";
      loginError.textContent = pendingLogin && pendingLogin.verb === "create" ? "Creating your character\u2026" : "Logging in\u2026";
    }
  }

  function loginFailed(message) {
    if (!pendingLogin) return;
    pendingLogin = null;
    clearTimeout(pendingTimer);
    setLoginBusy(false);
    overlay.hidden = false;
    loginError.dataset.kind = "error";
    loginError.textContent = message;
    passwordField.value = "";
    passwordField.focus();
  }

  /** GMCP Char.Login.Result: the server's answer to the form. */
  function loginResult(data) {
    if (data.success) {
      loggedIn = true;
      if (pendingLogin) {
        pendingLogin = null;
        clearTimeout(pendingTimer);
        setLoginBusy(false);
        passwordField.value = "";
        loginError.textContent = "";
        hideLogin();
      }
      return;
    }
    loginFailed(typeof data.message === "string" && data.message ? data.message : "That did not work.");
  }

  nameField.value = localStorage.getItem(NAME_KEY) || "";

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (pendingLogin) return;
    const verb = event.submitter && event.submitter.value === "create" ? "create" : "connect";
    const name = nameField.value.trim();
    const password = passwordField.value;
    const fail = (message, field) => {
      loginError.dataset.kind = "error";
      loginError.textContent = message;
      field.focus();
    };
    if (!name) return fail("Type your character's name.", nameField);
    if (rules && !new RegExp(`^(?:${rules.name.pattern})$`).test(name)) {
      return fail(`\u201c${name}\u201d cannot be a name. Names are ${rules.name.hint}`, nameField);
    }
    if (!password) return fail("Type your password.", passwordField);
    if (verb === "create" && rules && password.length < rules.password.minLength) {
      return fail(`That password is too short. ${rules.password.hint}`, passwordField);
    }
    try {
      localStorage.setItem(NAME_KEY, name);
    } catch (err) {
      /* ignore */
    }
    // The form stays until the server says yes (Char.Login.Result); a no
    // shows its reason here, where the player is looking.
    pendingLogin = { verb, name };
    setLoginBusy(true);
    clearTimeout(pendingTimer);
    pendingTimer = setTimeout(() => loginFailed("The server did not answer. Try again."), 20000);
    sendLine(`${verb} ${name} ${password}`, { echo: `${verb} ${name} ********` });
  });

  $("skip-login").addEventListener("click", () => {
    hideLogin();
    connect();
  });

  $("login-button").addEventListener("click", () => {
    reconnectNow();
    showLogin();
  });

  overlay.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !pendingLogin) {
      hideLogin();
      return;
    }
    // Keyboard users stay inside the dialog while it is open.
    if (event.key !== "Tab") return;
    const stops = [...overlay.querySelectorAll("input, button")].filter((e) => !e.disabled && e.offsetParent);
    if (!stops.length) return;
    const first = stops[0];
    const last = stops[stops.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      last.focus();
      event.preventDefault();
    } else if (!event.shiftKey && document.activeElement === last) {
      first.focus();
      event.preventDefault();
    }
  });

  // Narrow screens: the side panel folds away behind a button.
  $("panel-toggle").addEventListener("click", () => {
    const open = document.body.classList.toggle("panel-open");
    $("panel-toggle").setAttribute("aria-expanded", String(open));
  });

  // Expose a small hook for tests and for people poking at the console.
  window.jitrealm = { connect, sendLine, sendGmcp, get socket() { return socket; } };

  connect();
  showLogin();
})();
