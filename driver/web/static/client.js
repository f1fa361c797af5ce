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

  function appendNode(node) {
    const stick = output.scrollHeight - output.scrollTop - output.clientHeight < 48;
    output.appendChild(node);
    const text = node.textContent;
    const nl = text.lastIndexOf("\n");
    tail = nl >= 0 ? text.slice(nl + 1) : (tail + text).slice(-200);
    if (output.childNodes.length > MAX_NODES) {
      for (let i = 0; i < TRIM_NODES && output.firstChild; i++) output.removeChild(output.firstChild);
    }
    if (stick) output.scrollTop = output.scrollHeight;
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

  function setStatus(state, text) {
    const status = $("status");
    status.dataset.state = state;
    $("status-text").textContent = text;
  }

  function connect() {
    if (socket && socket.readyState <= WebSocket.OPEN) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    decoder = new TextDecoder("utf-8");
    ansi.pending = "";
    setStatus("connecting", "Connecting");
    socket = new WebSocket(`${scheme}//${location.host}/ws`, [SUBPROTOCOL]);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      everConnected = true;
      setStatus("online", "Connected");
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
      const why = event.reason ? `: ${event.reason}` : event.code === 1006 ? ": connection lost" : "";
      note(everConnected ? `Disconnected${why}. Log in again to reconnect.` : "Could not reach the server.");
      everConnected = false;
      $("login-button").textContent = "Reconnect";
      $("login-button").hidden = false;
      socket = null;
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
    else if (pkg === "char.status" || pkg === "char.name") {
      showWho(data || {});
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

  const overlay = $("login-overlay");
  const nameField = $("login-name");
  const passwordField = $("login-password");

  function showLogin() {
    overlay.hidden = false;
    $("login-error").textContent = "";
    (nameField.value ? passwordField : nameField).focus();
  }

  function hideLogin() {
    overlay.hidden = true;
    input.focus();
  }

  nameField.value = localStorage.getItem(NAME_KEY) || "";

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const verb = event.submitter && event.submitter.value === "create" ? "create" : "connect";
    const name = nameField.value.trim();
    const password = passwordField.value;
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) {
      $("login-error").textContent = "A name is letters, digits, - and _, starting with a letter.";
      return;
    }
    if (!password || /\s/.test(password)) {
      $("login-error").textContent = "The password cannot be empty or contain spaces.";
      return;
    }
    try {
      localStorage.setItem(NAME_KEY, name);
    } catch (err) {
      /* ignore */
    }
    passwordField.value = "";
    hideLogin();
    sendLine(`${verb} ${name} ${password}`, { echo: `${verb} ${name} ********` });
  });

  $("skip-login").addEventListener("click", () => {
    hideLogin();
    connect();
  });

  $("login-button").addEventListener("click", () => {
    connect();
    showLogin();
  });

  overlay.addEventListener("keydown", (event) => {
    if (event.key === "Escape") hideLogin();
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
