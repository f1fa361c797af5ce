/*
 * JitRealm browser client: the view of a declarative room (the quiz and friends).
 *
 * When the player stands in a declarative room, the server sends its replicated
 * state as GMCP: Realm.Room.State (all of it, on entering), then Realm.Room.Patch
 * (RFC 6902 operations), Realm.Room.Message (broadcasts), Realm.Room.Error and
 * Realm.Room.Left. This file keeps the state, draws it beside the terminal, and
 * sends the room's events back as GMCP Realm.Room.Send {room, type, payload}:
 * a button here and a command typed in the terminal end in the same machine.
 *
 * client.js hands it the GMCP (window.JitRealmRooms.onGmcp). No dependencies.
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let room = null; // {id, view, name, state, events}
  let sendGmcp = () => {};

  function decode(part) {
    return part.replace(/~1/g, "/").replace(/~0/g, "~");
  }

  /** Apply add/replace/remove operations (the ones the server sends). */
  function applyPatch(doc, ops) {
    for (const op of ops) {
      const parts = op.path.split("/").slice(1).map(decode);
      const last = parts.pop();
      let target = doc;
      for (const p of parts) {
        if (target === null || typeof target !== "object") return false;
        target = target[p];
      }
      if (target === null || typeof target !== "object") return false;
      if (op.op === "remove") delete target[last];
      else target[last] = op.value;
    }
    return true;
  }

  function send(type, payload = {}) {
    if (room) sendGmcp("Realm.Room.Send", { room: room.id, type, payload });
  }

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "on") node.addEventListener("click", v);
      else node[k] = v;
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function players(state) {
    const table = state.players && typeof state.players === "object" ? state.players : {};
    return Object.entries(table)
      .map(([id, p]) => ({ id, ...p }))
      .sort((a, b) => (b.score || 0) - (a.score || 0) || String(a.name).localeCompare(String(b.name)));
  }

  function renderQuiz(body, state) {
    const phase = state.phase || "idle";
    body.append(el("div", { id: "quiz-phase", className: `quiz-phase ${phase}`, textContent:
      phase === "question" ? `Question ${state.stepIndex + 1} of ${state.stepCount}`
        : phase === "finished" ? "Final scores" : "Waiting for a game" }));
    if (phase === "question") {
      const q = state.question || { text: "", options: [] };
      const seconds = state.timer ? state.timer.remainingSec : 0;
      body.append(el("div", { id: "quiz-question", className: "quiz-question", textContent: q.text }));
      // The bar runs from the most seconds this question has shown down to 0.
      if (room.timerFor !== q.text || seconds > room.timerMax) {
        room.timerFor = q.text;
        room.timerMax = Math.max(seconds, 1);
      }
      const total = room.timerMax;
      const bar = el("div", { className: "quiz-timer-bar" });
      bar.style.width = `${Math.max(0, Math.min(100, (100 * seconds) / total))}%`;
      body.append(el("div", { id: "quiz-timer", className: "quiz-timer", title: `${seconds} s left` },
        bar, el("span", { textContent: `${seconds} s` })));
      const options = el("div", { id: "quiz-options", className: "quiz-options" });
      (q.options || []).forEach((text, i) => {
        options.append(el("button", { type: "button", dataset: { choice: String(i + 1) },
          textContent: `${i + 1}. ${text}`, on: () => send("answer", { choice: i + 1 }) }));
      });
      body.append(options);
    } else {
      body.append(el("button", { type: "button", id: "quiz-start", className: "primary",
        textContent: phase === "finished" ? "Play again" : "Start the quiz", on: () => send("start") }));
    }
    if (state.lastResult) body.append(el("div", { id: "quiz-result", className: "quiz-result", textContent: state.lastResult }));
    const list = el("ol", { id: "quiz-scores", className: "quiz-scores" });
    for (const p of players(state)) {
      list.append(el("li", { className: p.connected === false ? "away" : "" },
        el("span", { className: "name", textContent: p.name }),
        el("span", { className: "score", textContent: String(p.score || 0) })));
    }
    body.append(list);
  }

  function render() {
    const card = $("room-view");
    if (!card) return;
    if (!room) {
      card.hidden = true;
      return;
    }
    card.hidden = false;
    $("room-view-title").textContent = room.name || "Room";
    const body = $("room-view-body");
    body.replaceChildren();
    if (room.view === "quiz") renderQuiz(body, room.state || {});
    else body.append(el("pre", { className: "room-state", textContent: JSON.stringify(room.state, null, 2) }));
    if (room.error) body.append(el("div", { id: "room-error", className: "room-error", textContent: room.error }));
  }

  function onGmcp(pkg, data, gmcpSender) {
    sendGmcp = gmcpSender;
    if (!data || typeof data !== "object") return;
    if (pkg === "realm.room.state") {
      room = { id: data.room, view: data.view, name: data.name, state: data.state,
               events: data.events || [], error: "", timerFor: null, timerMax: 1 };
    } else if (!room || data.room !== room.id) {
      return;
    } else if (pkg === "realm.room.patch") {
      if (!applyPatch(room.state, data.ops || [])) sendGmcp("Core.Ping"); // out of step: wait for the next state
      room.error = "";
    } else if (pkg === "realm.room.error") {
      room.error = data.message || "That did not work.";
    } else if (pkg === "realm.room.left") {
      room = null;
    } else {
      return;
    }
    render();
  }

  window.JitRealmRooms = { onGmcp, applyPatch, get room() { return room; } };
})();
