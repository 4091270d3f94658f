"use strict";
(() => {
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (s, el = document) => el.querySelector(s);
  const state = { data: null, open: null, readOnly: true, loading: null, again: false };

  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  async function api(method, path, body) {
    const res = await fetch(path, {
      method, headers: { "X-Minsky-Token": token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    try { json = await res.json(); } catch (_) { /* empty */ }
    return { ok: res.ok, status: res.status, json };
  }

  function toast(text, error) {
    const t = $("#toast");
    t.textContent = text;
    t.className = error ? "error" : "";
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, error ? 9000 : 3000);
  }

  // A small, safe markdown: the text is escaped first, then headings, lists, code, emphasis and
  // http(s) links are marked up. Nothing the text says can become a tag or a script.
  function markdown(src) {
    const blocks = esc(src).split(/\n{2,}/);
    return blocks.map((b) => {
      if (/^```/.test(b)) return "<pre><code>" + b.replace(/^```\w*\n?|```$/g, "") + "</code></pre>";
      const h = b.match(/^(#{1,4}) (.*)$/);
      if (h && !b.includes("\n")) return `<h${h[1].length + 2}>${inline(h[2])}</h${h[1].length + 2}>`;
      if (/^\s*[-*] /.test(b)) return "<ul>" + b.split(/\n/).map((l) => "<li>" + inline(l.replace(/^\s*[-*] /, "")) + "</li>").join("") + "</ul>";
      return "<p>" + inline(b).replace(/\n/g, "<br>") + "</p>";
    }).join("");
  }
  function inline(s) {
    return s.replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/\*([^*]+)\*/g, "<em>$1</em>")
      .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>');
  }

  const dateFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const when = (iso) => (iso ? dateFormat.format(new Date(iso)) : "");

  // MARK: loading and rendering

  async function load() {
    if (state.loading) { state.again = true; return state.loading; }
    state.loading = (async () => {
      do {
        state.again = false;
        const p = new URLSearchParams();
        if ($("#f-tag").value) p.set("tag", $("#f-tag").value);
        if ($("#f-assignee").value) p.set("assignee", $("#f-assignee").value);
        if ($("#f-q").value.trim()) p.set("q", $("#f-q").value.trim());
        if ($("#f-meaning").checked) p.set("meaning", "1");
        const r = await api("GET", "/api/board?" + p);
        if (!r.ok) { toast(r.json?.error?.message || "could not load the board", true); break; }
        state.data = r.json;
        render();
      } while (state.again);
    })();
    try { await state.loading; } finally { state.loading = null; }
  }

  function fillSelect(sel, values, label) {
    const cur = sel.value;
    sel.innerHTML = `<option value="">${label}</option>` + values.map((v) => `<option>${esc(v)}</option>`).join("");
    sel.value = values.includes(cur) ? cur : "";
  }

  function render() {
    const d = state.data;
    state.readOnly = d.readOnly;
    $("#store").textContent = d.store;
    $("#role").textContent = d.identity + (d.readOnly ? " · read-only" : "");
    $("#role").className = "badge" + (d.readOnly ? " ro" : "");
    $("#new-task").hidden = d.readOnly;
    $("#f-meaning-label").hidden = !d.meaning;
    fillSelect($("#f-tag"), d.tags, "all tags");
    fillSelect($("#f-assignee"), d.assignees, "anyone");
    // One string, one innerHTML: thousands of cards render in one layout pass.
    state.byId = new Map(d.tasks.map((t) => [t.id, t]));
    const byStatus = new Map(d.statuses.map((st) => [st, []]));
    for (const t of d.tasks) byStatus.get(t.status)?.push(card(t));
    // Versions as this page last drew them: a card that changed elsewhere is highlighted briefly.
    const focused = document.activeElement?.closest?.(".card")?.dataset.id;
    $("#board").innerHTML = d.statuses.map((status) => {
      const cards = byStatus.get(status);
      const total = d.counts?.[status] ?? cards.length;
      const count = total > cards.length ? `<span title="the first ${cards.length} are shown; filter to see others">${cards.length} of ${total}</span>` : `<span>${total}</span>`;
      return `<section class="column" data-status="${status}"><h2><span>${status}</span>${count}</h2>${cards.join("")}</section>`;
    }).join("");
    state.seen = new Map(d.tasks.map((t) => [t.id, t.version]));
    if (focused) $(`.card[data-id="${CSS.escape(focused)}"]`)?.focus();
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  }

  function card(t) {
    const meta = [];
    if (t.assignee) meta.push(esc(t.assignee) + (t.claimExpiresAt ? " until " + esc(when(t.claimExpiresAt)) : ""));
    if (t.acceptance) meta.push(`✓ ${t.acceptance.done}/${t.acceptance.total}`);
    if (t.openSubtasks) meta.push(`${t.openSubtasks} open subtask(s)`);
    if (t.evidence) meta.push("evidence ✓");
    const blocked = t.blockedBy ? `<div class="blocked" title="${esc(t.blockedBy.map((b) => b.id + " " + b.title).join("\n"))}">blocked by ${t.blockedBy.map((b) => esc(b.id)).join(", ")}</div>` : "";
    const held = t.pathsHeld ? `<div class="blocked paths-held">paths held by ${t.pathsHeld.map((h) => esc(h.owner) + " (" + esc(h.id) + ")").join(", ")}</div>` : "";
    const changed = state.seen && state.seen.has(t.id) && state.seen.get(t.id) !== t.version;
    const fresh = state.seen && !state.seen.has(t.id);
    return `<article class="card${t.blockedBy ? " is-blocked" : ""}${changed || fresh ? " flash" : ""}" tabindex="0" role="button" aria-label="${esc(t.id + " " + t.title)}" data-id="${esc(t.id)}" data-version="${t.version}" data-status="${t.status}">
      <div class="top"><span class="id">${esc(t.id)}</span><span class="prio p${t.priority}">P${t.priority}</span></div>
      <div class="title">${esc(t.title)}</div>
      <div>${t.tags.map((g) => `<span class="tag">${esc(g)}</span>`).join("")}</div>
      ${meta.length ? `<div class="meta">${meta.join(" · ")}</div>` : ""}
      ${blocked}${held}</article>`;
  }

  // Cards are found by delegation (one listener for the whole board).
  $("#board").addEventListener("pointerdown", (e) => {
    const el = e.target.closest(".card");
    const t = el && state.byId?.get(el.dataset.id);
    if (t) startDrag(e, el, t);
  });

  // The keyboard: Tab reaches every card, Enter (or Space) opens it, Esc closes the panel.
  $("#board").addEventListener("keydown", (e) => {
    const el = e.target.closest(".card");
    if (el && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); openPanel(el.dataset.id); }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("#panel").hidden) {
      const id = state.open;
      closePanel();
      if (id) $(`.card[data-id="${CSS.escape(id)}"]`)?.focus();
    }
  });
  function closePanel() { $("#panel").hidden = true; state.open = null; }

  // MARK: dragging (pointer events: mouse, pen and touch alike)

  function startDrag(e, el, t) {
    if (e.button !== 0) return;
    const start = { x: e.clientX, y: e.clientY };
    let ghost = null;
    let over = null;
    const move = (ev) => {
      if (!ghost) {
        if (Math.hypot(ev.clientX - start.x, ev.clientY - start.y) < 5 || state.readOnly) return;
        ghost = el.cloneNode(true);
        ghost.classList.add("ghost");
        ghost.style.width = el.offsetWidth + "px";
        document.body.appendChild(ghost);
        el.classList.add("dragging");
      }
      ghost.style.left = ev.clientX - 20 + "px";
      ghost.style.top = ev.clientY - 10 + "px";
      const col = document.elementFromPoint(ev.clientX, ev.clientY)?.closest(".column");
      if (over !== col) { over?.classList.remove("drop"); over = col; over?.classList.add("drop"); }
    };
    const up = async (ev) => {
      document.removeEventListener("pointermove", move);
      document.removeEventListener("pointerup", up);
      if (!ghost) { openPanel(t.id); return; }
      ghost.remove();
      el.classList.remove("dragging");
      over?.classList.remove("drop");
      const col = document.elementFromPoint(ev.clientX, ev.clientY)?.closest(".column");
      if (col && col.dataset.status !== t.status) await move_(t, col.dataset.status, false, Number(el.dataset.version));
    };
    document.addEventListener("pointermove", move);
    document.addEventListener("pointerup", up);
  }

  // The move carries the version this page saw (the card's): a stale one is refused, never applied.
  async function move_(t, status, force, version = t.version) {
    const r = await api("POST", `/api/task/${encodeURIComponent(t.id)}`, { status, expectedVersion: version, force: !!force });
    if (r.ok) { toast(`${t.id} → ${status}`); }
    else if (r.status === 409 && r.json?.current) {
      const c = r.json.current;
      toast(`Not moved: ${t.id} changed since this page loaded (now ${c.status}, version ${c.version}, “${c.title}”). The board shows it as it is now.`, true);
    } else if (r.json?.error?.field === "force" && !state.readOnly) {
      if (confirm(r.json.error.message + "\n\nMark it DONE anyway?")) return move_(t, status, true, version);
    } else {
      toast(r.json?.error?.message || `could not move ${t.id}`, true);
    }
    await load();
    if (state.open === t.id) await openPanel(t.id);
  }

  // MARK: the task panel

  function evidenceItems(e) {
    const items = [];
    for (const c of e.commits || []) items.push(`commit <code>${esc(c)}</code>`);
    if (e.command) items.push(`<code>${esc(e.command)}</code> exited ${esc(String(e.exitStatus ?? "?"))}`);
    if (e.tests) items.push(`tests: ${esc(e.tests)}`);
    for (const l of e.links || []) items.push(/^https?:\/\//.test(l) ? `<a href="${esc(l)}" rel="noopener noreferrer" target="_blank">${esc(l)}</a>` : esc(l));
    if (e.tokens != null || e.minutes != null) items.push(`cost: ${[e.tokens != null ? esc(String(e.tokens)) + " tokens" : "", e.minutes != null ? esc(String(e.minutes)) + " min" : ""].filter(Boolean).join(", ")}`);
    if (e.recordedAt) items.push(`<span class="muted">recorded ${esc(when(e.recordedAt))}</span>`);
    return items.map((i) => `<li>${i}</li>`).join("");
  }

  async function openPanel(id) {
    state.open = id;
    const r = await api("GET", `/api/task/${encodeURIComponent(id)}`);
    if (!r.ok) { toast(r.json?.error?.message || "could not read " + id, true); return; }
    const { task: t, blockedBy, blocks, notes, history, tree } = r.json;
    const link = (e) => `<a class="task-link" data-open="${esc(e.id)}">${esc(e.id)}</a> ${esc(e.title)} <span class="muted">${esc(e.status)}</span>`;
    const ro = state.readOnly ? "disabled" : "";
    const ac = (t.acceptance || []).map((c, i) => `<li><label><input type="checkbox" data-check="${i + 1}" ${c.done ? "checked" : ""} ${ro}> ${esc(c.text)}</label></li>`).join("");
    const subtasks = (tree.roots[0]?.children || []).map((n) => `<li>${link(n)}</li>`).join("");
    const statuses = state.data?.statuses || ["TODO", "IN-PROGRESS", "IN-REVIEW", "DONE", "BLOCKED", "CLOSED"];
    const parent = t.parentId ? (state.byId?.get(t.parentId) || { id: t.parentId, title: "", status: "" }) : null;
    const edit = state.readOnly ? "" : `
      <form id="edit-form" class="edit" autocomplete="off">
        <label>Title <input id="edit-title" value="${esc(t.title)}" maxlength="500" required></label>
        <label>Description <textarea id="edit-description" rows="5">${esc(t.description || "")}</textarea></label>
        <div class="row">
          <label>Status <select id="edit-status">${statuses.map((st) => `<option${st === t.status ? " selected" : ""}>${st}</option>`).join("")}</select></label>
          <label>Priority <select id="edit-priority">${[0, 1, 2, 3, 4].map((p) => `<option value="${p}"${p === t.priority ? " selected" : ""}>P${p}</option>`).join("")}</select></label>
        </div>
        <label>Tags <input id="edit-tags" value="${esc((t.tags || []).join(", "))}" placeholder="comma, separated"></label>
        <label>Assignee <input id="edit-assignee" value="${esc(t.assignee || "")}" placeholder="nobody"></label>
        <button id="edit-save" type="submit">Save</button>
      </form>`;
    $("#panel-body").innerHTML = `
      <div class="muted">${esc(t.id)} · P${t.priority} · version ${t.version}</div>
      <h2>${esc(t.title)}</h2>
      ${parent ? `<div class="muted">under ${link(parent)}</div>` : ""}
      <div><span class="badge">${esc(t.status)}</span> ${t.assignee ? "claimed by " + esc(t.assignee) + (t.claimExpiresAt ? " until " + esc(when(t.claimExpiresAt)) : "") : ""}
      ${(t.tags || []).map((g) => `<span class="tag">${esc(g)}</span>`).join("")}</div>
      <div class="md">${t.description ? markdown(t.description) : '<p class="muted">No description.</p>'}</div>
      ${edit}
      ${ac ? `<h3>Acceptance criteria</h3><ul class="ac">${ac}</ul>` : ""}
      ${(t.paths || []).length ? `<h3>Paths</h3><ul class="paths">${t.paths.map((p) => `<li><code>${esc(p)}</code></li>`).join("")}</ul>` : ""}
      ${t.evidence ? `<h3>Evidence</h3><ul class="evidence">${evidenceItems(t.evidence)}</ul>` : ""}
      ${subtasks ? `<h3>Subtasks</h3><ul>${subtasks}</ul>` : ""}
      ${blockedBy.length ? `<h3>Blocked by</h3><ul>${blockedBy.map((e) => `<li>${link(e)}</li>`).join("")}</ul>` : ""}
      ${blocks.length ? `<h3>Blocks</h3><ul>${blocks.map((e) => `<li>${link(e)}</li>`).join("")}</ul>` : ""}
      <h3>Tree</h3><div class="tree">${esc(treeText(tree))}</div>
      <h3>Notes</h3>
      <div class="notes">${notes.map((n) => `<div class="note"><div class="muted">${esc(n.author)} · ${esc(when(n.createdAt))}</div><div class="md">${markdown(n.body)}</div></div>`).join("") || '<p class="muted">No notes yet.</p>'}</div>
      ${state.readOnly ? "" : `<form id="note-form"><input id="note-text" class="grow" placeholder="Add a note…" aria-label="note"><button type="submit">Note</button></form>`}
      <h3>History</h3><ul class="history">${history.slice().reverse().map((e) => `<li>${esc(when(e.at))} · ${esc(e.actor)} · ${esc(e.words || e.kind)}</li>`).join("")}</ul>`;
    $("#panel").hidden = false;
    $("#panel-body").querySelectorAll("[data-open]").forEach((a) => a.addEventListener("click", () => openPanel(a.dataset.open)));
    $("#panel-body").querySelectorAll("[data-check]").forEach((box) => box.addEventListener("change", async () => {
      const res = await api("POST", `/api/task/${encodeURIComponent(t.id)}`, { check: Number(box.dataset.check), done: box.checked, expectedVersion: t.version });
      if (!res.ok) toast(res.status === 409 ? `${t.id} changed meanwhile; shown as it is now` : res.json?.error?.message, true);
      await openPanel(t.id);
    }));
    $("#edit-form")?.addEventListener("submit", async (e) => {
      e.preventDefault();
      const change = {
        title: $("#edit-title").value, description: $("#edit-description").value,
        priority: Number($("#edit-priority").value), assignee: $("#edit-assignee").value.trim(),
        tags: $("#edit-tags").value.split(",").map((g) => g.trim()).filter((g) => g),
        expectedVersion: t.version,
      };
      const status = $("#edit-status").value;
      if (status !== t.status) change.status = status;
      let res = await api("POST", `/api/task/${encodeURIComponent(t.id)}`, change);
      if (!res.ok && res.json?.error?.field === "force" && confirm(res.json.error.message + "\n\nSave it as DONE anyway?")) {
        res = await api("POST", `/api/task/${encodeURIComponent(t.id)}`, { ...change, force: true });
      }
      if (res.ok) toast(`Saved ${t.id}`);
      else toast(res.status === 409 ? `Not saved: ${t.id} changed meanwhile; shown as it is now` : res.json?.error?.message || "could not save", true);
      await load();
      await openPanel(t.id);
    });
    $("#note-form")?.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = $("#note-text").value;
      if (!body.trim()) return;
      const res = await api("POST", `/api/task/${encodeURIComponent(t.id)}/note`, { body });
      if (!res.ok) toast(res.json?.error?.message || "could not add the note", true);
      await openPanel(t.id);
    });
  }

  // The subtree with blockers, as `minsky tasks tree` draws it.
  function treeText(tree) {
    const out = [];
    const walk = (n, prefix, last, top) => {
      const mark = n.status === "DONE" || n.status === "CLOSED" ? "✓" : n.status === "IN-PROGRESS" ? "▶" : "○";
      const blocked = n.blockedBy ? "  ⟵ blocked by " + n.blockedBy.join(", ") : "";
      out.push(prefix + (top ? "" : last ? "└─ " : "├─ ") + `${mark} ${n.id} ${n.title} [${n.status}]` + blocked);
      const kids = n.children || [];
      kids.forEach((c, i) => walk(c, top ? prefix : prefix + (last ? "   " : "│  "), i === kids.length - 1, false));
    };
    tree.roots.forEach((r) => walk(r, "", true, true));
    return out.join("\n");
  }

  // MARK: live updates

  function connect() {
    const ws = new WebSocket(`ws://${location.host}/api/live?token=${encodeURIComponent(token)}`);
    ws.onopen = () => {
      $("#live").classList.add("on");
      // After a reconnection, catch up on what happened while the socket was down.
      if (connect.opened) load();
      connect.opened = true;
    };
    ws.onmessage = (m) => {
      let msg = {};
      try { msg = JSON.parse(m.data); } catch (_) { return; }
      if (!msg.changed) return;
      clearTimeout(connect.timer);
      connect.timer = setTimeout(async () => {
        await load();
        if (state.open && msg.changed.includes(state.open) && !$("#panel").hidden && !document.activeElement?.closest?.("#panel form")) await openPanel(state.open);
      }, 60);
    };
    ws.onclose = () => { $("#live").classList.remove("on"); setTimeout(connect, 1000); };
  }

  // MARK: wiring

  $("#panel-close").addEventListener("click", closePanel);
  for (const id of ["#f-tag", "#f-assignee", "#f-meaning"]) $(id).addEventListener("change", load);
  $("#f-q").addEventListener("input", () => { clearTimeout(load.timer); load.timer = setTimeout(load, 250); });
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  $("#new-task").addEventListener("submit", async (e) => {
    e.preventDefault();
    const title = $("#new-title").value;
    if (!title.trim()) return;
    const r = await api("POST", "/api/tasks", { title, priority: Number($("#new-priority").value) });
    if (!r.ok) { toast(r.json?.error?.message || "could not create the task", true); return; }
    $("#new-title").value = "";
    toast(`Created ${r.json.id}`);
    await load();
  });
  load().then(connect);
})();
