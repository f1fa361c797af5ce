/*
 * JitRealm browser client: the auto-map.
 *
 * Drawn from GMCP Room.Info alone ({num, name, area, exits: {dir: num}}),
 * as MUD clients' mappers do: the first room seen sits at the origin, and
 * every room reached or seen through an exit is placed one step from its
 * neighbour in the exit's direction. Up and down change the level (the
 * map shows the level you stand on); in and out, which have no direction,
 * take the nearest free square beside the room. Rooms only seen through an
 * exit are drawn dashed until visited. Positions are the client's guess;
 * a world whose exits do not form a grid still gets a readable sketch.
 *
 * No dependencies: an SVG the client owns. window.JitRealmMap.update(room)
 * is all client.js calls.
 */
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const STEP = { // direction -> [dx, dy, dz]; y grows southward, as on screen
    north: [0, -1, 0], south: [0, 1, 0], east: [1, 0, 0], west: [-1, 0, 0],
    northeast: [1, -1, 0], northwest: [-1, -1, 0], southeast: [1, 1, 0], southwest: [-1, 1, 0],
    up: [0, 0, 1], down: [0, 0, -1],
  };
  const SHORT = {
    n: "north", s: "south", e: "east", w: "west", ne: "northeast", nw: "northwest",
    se: "southeast", sw: "southwest", u: "up", d: "down",
  };
  const CELL = 56; // px between room centres
  const BOX = 30; // a room's square
  const VIEW = 3; // squares shown each side of where you are

  const rooms = new Map(); // num -> {num, name, area, exits: Map(dir -> num), x, y, z, visited}
  const taken = new Map(); // "x,y,z" -> num
  let here = null;

  const key = (x, y, z) => `${x},${y},${z}`;
  const direction = (dir) => SHORT[dir.toLowerCase()] || dir.toLowerCase();

  function place(num, x, y, z) {
    let room = rooms.get(num);
    if (!room) {
      room = { num, name: "", area: "", exits: new Map(), visited: false };
      rooms.set(num, room);
    }
    if (room.x === undefined) {
      [x, y] = free(x, y, z);
      Object.assign(room, { x, y, z });
      taken.set(key(x, y, z), num);
    }
    return room;
  }

  /** The nearest free square to (x, y) on level z, spiralling outward. */
  function free(x, y, z) {
    if (!taken.has(key(x, y, z))) return [x, y];
    for (let r = 1; r < 50; r++) {
      for (let dx = -r; dx <= r; dx++) {
        for (let dy = -r; dy <= r; dy++) {
          if (Math.max(Math.abs(dx), Math.abs(dy)) !== r) continue;
          if (!taken.has(key(x + dx, y + dy, z))) return [x + dx, y + dy];
        }
      }
    }
    return [x, y];
  }

  function exitsOf(info) {
    const out = new Map();
    const exits = info.exits;
    if (exits && typeof exits === "object" && !Array.isArray(exits)) {
      for (const [dir, num] of Object.entries(exits)) out.set(direction(dir), num);
    } else if (Array.isArray(exits)) {
      for (const dir of exits) if (typeof dir === "string") out.set(direction(dir), null);
    }
    return out;
  }

  function update(info) {
    if (!info || info.num === undefined || info.num === null) return;
    const num = info.num;
    let room = rooms.get(num);
    if (!room || room.x === undefined) {
      // Reached from the room we were in: one step that way, if an exit says so.
      let at = [0, 0, 0];
      const from = here !== null ? rooms.get(here) : null;
      if (from) {
        let step = [1, 0, 0];
        for (const [dir, target] of from.exits) {
          if (target === num) {
            step = STEP[dir] || [1, 0, 0];
            break;
          }
        }
        at = [from.x + step[0], from.y + step[1], from.z + step[2]];
      }
      room = place(num, ...at);
    }
    room.name = info.name || room.name;
    room.area = info.area || room.area;
    room.visited = true;
    room.exits = exitsOf(info);
    for (const [dir, target] of room.exits) {
      if (target === null || target === undefined) continue;
      const step = STEP[dir] || [1, 0, 0];
      place(target, room.x + step[0], room.y + step[1], room.z + step[2]);
    }
    here = num;
    draw();
  }

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function draw() {
    const svg = document.getElementById("map");
    if (!svg) return;
    const me = rooms.get(here);
    if (!me) return;
    svg.replaceChildren();
    const size = (2 * VIEW + 1) * CELL;
    const cx = me.x * CELL;
    const cy = me.y * CELL;
    svg.setAttribute("viewBox", `${cx - size / 2} ${cy - size / 2} ${size} ${size}`);
    const level = [...rooms.values()].filter((r) => r.z === me.z && r.x !== undefined);
    const links = el("g", { class: "map-links" }, svg);
    const drawn = new Set(); // a two-way passage is one line
    for (const room of level) {
      for (const [dir, target] of room.exits) {
        const other = rooms.get(target);
        if (!other || other.z !== room.z || other.x === undefined || other === room) continue;
        const pair = room.num < other.num ? `${room.num}-${other.num}` : `${other.num}-${room.num}`;
        if (drawn.has(pair)) continue;
        drawn.add(pair);
        el("line", {
          x1: room.x * CELL, y1: room.y * CELL, x2: other.x * CELL, y2: other.y * CELL,
          class: STEP[dir] ? "map-exit" : "map-exit map-odd",
        }, links);
      }
    }
    const boxes = el("g", { class: "map-rooms" }, svg);
    for (const room of level) {
      const classes = ["map-room"];
      if (!room.visited) classes.push("map-unvisited");
      if (room.num === here) classes.push("map-here");
      const g = el("g", { class: classes.join(" "), "data-num": room.num }, boxes);
      el("rect", {
        x: room.x * CELL - BOX / 2, y: room.y * CELL - BOX / 2, width: BOX, height: BOX, rx: 6,
      }, g);
      const title = el("title", {}, g);
      title.textContent = room.visited ? room.name : "unexplored";
      const vertical = [...room.exits.keys()].filter((d) => d === "up" || d === "down");
      if (vertical.length) {
        const mark = el("text", { x: room.x * CELL, y: room.y * CELL + 4, class: "map-stairs" }, g);
        mark.textContent = vertical.length === 2 ? "\u21c5" : vertical[0] === "up" ? "\u2191" : "\u2193";
      }
    }
    const label = document.getElementById("map-caption");
    if (label) {
      const seen = [...rooms.values()].filter((r) => r.visited).length;
      label.textContent = `${me.name || "Here"}${me.z ? ` (level ${me.z})` : ""}: ${seen} room${seen === 1 ? "" : "s"} explored`;
    }
    svg.setAttribute("aria-label",
      `Map. You are in ${me.name || "an unnamed room"}; exits: ${[...me.exits.keys()].join(", ") || "none"}.`);
    const card = document.getElementById("map-card");
    if (card) card.hidden = false;
  }

  window.JitRealmMap = {
    update,
    get here() { return here; },
    get rooms() { return rooms; },
  };
})();
