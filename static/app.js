// Stream Recorder UI: forms and buttons talk to the JSON API with the session's CSRF token; a few live views poll.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

async function api(method, url, body, isForm) {
  const headers = { "X-CSRF-Token": csrf, "X-Requested-With": "recorder-ui" };
  if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, credentials: "same-origin",
                                  body: body === undefined ? undefined : isForm ? body : JSON.stringify(body) });
  } catch (error) {
    return { ok: false, status: 0, data: { error: "The recorder did not answer. Is it running?" } };
  }
  if (response.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
  let data = {};
  try { data = await response.json(); } catch (error) { data = { error: `Unexpected answer (${response.status})` }; }
  return { ok: response.ok, status: response.status, data };
}

function flash(message, bad) {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = message;
  box.className = "flash" + (bad ? " bad" : "");
  box.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

const text = (value) => (value === null || value === undefined ? "" : String(value));
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}
function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return isNaN(date) ? iso : date.toLocaleString([], { weekday: "short", year: "numeric", month: "short",
                                                       day: "numeric", hour: "2-digit", minute: "2-digit" });
}
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  seconds = Math.round(seconds);
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  return h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(s).padStart(2, "0")}s`;
}
function bytes(count) {
  if (!count) return "0 B";
  const units = ["B", "KB", "MB", "GB"];
  let unit = 0;
  while (count >= 1024 && unit < units.length - 1) { count /= 1024; unit++; }
  return `${count.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

// ---- forms: data-api="METHOD url", fields by name, errors next to the field they name ------------------------
function formValues(form) {
  const values = {};
  for (const input of form.querySelectorAll("input[name], select[name]")) {
    const type = input.dataset.type || "";
    if (type === "skip") continue;
    let value = input.type === "checkbox" ? input.checked : input.value;
    if (type === "int") value = value === "" ? null : Number(value);
    if (type === "int-or-null") value = value === "" ? null : Number(value);
    if (type === "minutes") { values.duration_seconds = Math.round(Number(value) * 60); continue; }
    if (type === "duration") {
      const hours = Number(form.querySelector('[name="duration_hours"]')?.value || 0);
      value = hours * 60 + Number(value || 0);
    }
    if (type === "int-or-null" && value === null && !form.dataset.editing) continue;
    values[input.name] = value;
  }
  return values;
}

function showErrors(form, data) {
  for (const box of form.querySelectorAll("[data-error-for]")) box.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  if (!data) return;
  const field = data.field || "";
  const box = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`) || form.querySelector('[data-error-for=""]');
  if (box) box.textContent = data.error; else flash(data.error, true);
  const input = field && form.querySelector(`[name="${CSS.escape(field)}"]`);
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-api]");
  if (!form) return;
  event.preventDefault();
  const [method, url] = (form.dataset.editing || form.dataset.api).split(" ");
  const button = form.querySelector('[type="submit"]');
  if (button) button.disabled = true;
  const result = await api(method, url, formValues(form));
  if (button) button.disabled = false;
  if (!result.ok) { showErrors(form, result.data); return; }
  showErrors(form, null);
  const then = form.dataset.then || "";
  if (then === "reload") location.reload();
  else if (then.startsWith("go:")) location.href = then.slice(3);
  else flash("Saved.");
});

// ---- dialogs for add / edit ---------------------------------------------------------------------------------
function openForm(id, row) {
  const dialog = document.getElementById(id);
  const form = dialog.querySelector("form");
  form.reset();
  showErrors(form, null);
  delete form.dataset.editing;
  const title = form.querySelector("[data-title-new]");
  if (row) {
    form.dataset.editing = form.dataset.editApi.replace("{id}", row.id);
    for (const input of form.querySelectorAll("input[name], select[name]")) {
      if (input.name === "duration_hours") input.value = Math.floor(row.duration_minutes / 60);
      else if (input.name === "duration_minutes") input.value = row.duration_minutes % 60;
      else if (input.type === "checkbox") input.checked = !!row[input.name];
      else if (input.name in row) input.value = text(row[input.name]);
    }
  }
  if (title) title.textContent = row ? title.dataset.titleEdit : title.dataset.titleNew;
  dialog.showModal();
  form.querySelector("[data-cron-preview]")?.dispatchEvent(new Event("input"));
}

document.addEventListener("click", async (event) => {
  const target = event.target.closest("button, [data-close]");
  if (!target) return;
  if (target.dataset.open) openForm(target.dataset.open, null);
  if (target.dataset.edit) {
    const holder = target.closest("[data-stream], [data-schedule]");
    openForm(target.dataset.edit, JSON.parse(holder.dataset.stream || holder.dataset.schedule));
  }
  if (target.hasAttribute("data-close")) target.closest("dialog").close();
  if (target.dataset.delete) {
    if (!confirm(target.dataset.confirm || "Delete?")) return;
    const result = await api("DELETE", target.dataset.delete);
    if (result.ok) location.reload(); else flash(result.data.error, true);
  }
  if (target.dataset.test) {
    const box = target.closest(".body, td, .card").querySelector("[data-result]");
    box.hidden = false;
    box.className = "result";
    box.textContent = "Testing…";
    const result = await api("POST", target.dataset.test);
    box.replaceChildren(...describeTest(result.data));
    box.classList.add(result.data.reachable || result.data.ok ? "good" : "bad");
  }
  if (target.dataset.retry) {
    const result = await api("POST", target.dataset.retry);
    if (result.ok) { flash("Transfer restarted."); refresh(); } else flash(result.data.error, true);
  }
});

function describeTest(data) {
  if (data.error) return [data.error];
  if ("problems" in data) return data.ok ? ["Destination reachable: login, host key and write permission are fine."]
                                         : data.problems.map((problem) => el("p", { text: problem }));
  if (!data.reachable) return [`Not reachable: ${data.reason}`];
  const facts = [data.codec && `codec ${data.codec}`, data.bitrate_kbps && `${data.bitrate_kbps} kbit/s`,
                 data.sample_rate && `${data.sample_rate} Hz`, data.icy_name && `“${data.icy_name}”`,
                 data.current_title && `now playing: ${data.current_title}`].filter(Boolean);
  const lines = [`Reachable: ${facts.join(" · ")}`];
  if (data.warning) lines.push(el("p", { class: "warn", text: `Note: ${data.warning}` }));
  return lines;
}

// toggles (schedule active) and artwork uploads
document.addEventListener("change", async (event) => {
  const input = event.target;
  if (input.dataset.toggle) {
    const result = await api("PUT", input.dataset.toggle, { active: input.checked });
    if (result.ok) location.reload(); else { input.checked = !input.checked; flash(result.data.error, true); }
  }
  if (input.dataset.upload && input.files.length) {
    const file = input.files[0];
    if (file.size > Number(input.dataset.maxMb) * 1024 * 1024) {
      flash(`The image is larger than ${input.dataset.maxMb} MB.`, true); input.value = ""; return;
    }
    const art = input.closest(".stream")?.querySelector(".art");
    if (art) art.replaceChildren(el("img", { src: URL.createObjectURL(file), alt: "Artwork preview" }));
    const body = new FormData();
    body.append("artwork", file);
    const result = await api("POST", input.dataset.upload, body, true);
    if (result.ok) { flash("Artwork saved."); setTimeout(() => location.reload(), 600); }
    else { flash(result.data.error, true); }
  }
});

// ---- cron explained as you type -----------------------------------------------------------------------------
for (const input of document.querySelectorAll("[data-cron-preview]")) {
  const box = document.getElementById(input.dataset.cronPreview);
  const zone = input.form.querySelector("[data-cron-zone]");
  let timer;
  const update = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const result = await api("POST", "/api/schedules/validate-cron", { cron: input.value, timezone: zone.value });
      const error = input.form.querySelector('[data-error-for="cron"]');
      if (result.ok && result.data.valid) {
        error.textContent = "";
        input.removeAttribute("aria-invalid");
        box.replaceChildren(el("strong", { text: result.data.description }),
                            el("ol", {}, ...result.data.next_runs.map((run) => el("li", { text: when(run) }))));
      } else {
        box.replaceChildren();
        error.textContent = result.data.error || "invalid";
        input.setAttribute("aria-invalid", "true");
      }
    }, 250);
  };
  input.addEventListener("input", update);
  zone.addEventListener("input", update);
}

// ---- live views: dashboard recordings, sessions history -----------------------------------------------------
function liveCard(session, names) {
  const progress = session.progress || {};
  const total = (new Date(session.window_end) - new Date(session.started_at || session.window_start)) / 1000;
  const elapsed = progress.seconds || 0;
  const bar = el("span");
  bar.style.width = `${Math.min(100, total > 0 ? elapsed / total * 100 : 0)}%`;
  return el("div", { class: "card", "data-session": session.id },
    el("h3", { text: names[session.stream_id] || `Stream ${session.stream_id}` }),
    el("div", { class: "progress", role: "progressbar" }, bar),
    el("div", { class: "facts" },
      el("span", {}, "elapsed ", el("b", { class: "elapsed", text: duration(elapsed) })),
      el("span", {}, "remaining ", el("b", { text: duration(Math.max(0, total - elapsed)) })),
      el("span", {}, "size ", el("b", { class: "size", text: bytes(progress.bytes) })),
      progress.bitrate_kbps ? el("span", {}, "bitrate ", el("b", { text: `${progress.bitrate_kbps} kbit/s` })) : null,
      progress.title ? el("span", {}, "now ", el("b", { text: progress.title })) : null,
      session.gaps?.length ? el("span", {}, "gaps ", el("b", { text: session.gaps.length })) : null));
}

async function streamNames() {
  const result = await api("GET", "/api/streams");
  return Object.fromEntries((result.data.streams || []).map((s) => [s.id, s.name]));
}

async function refreshLive(box) {
  const [result, names] = await Promise.all([api("GET", box.dataset.poll), streamNames()]);
  const sessions = result.data.sessions || [];
  box.replaceChildren(...(sessions.length ? sessions.map((s) => liveCard(s, names))
                                          : [el("p", { class: "empty", text: "Nothing is recording." })]));
}

function sessionRow(session, names) {
  const transfer = session.remote_path ? `delivered: ${session.remote_path}` : "";
  const gaps = (session.gaps || []).length;
  const retry = session.status === "failed" && session.file && /transfer/i.test(session.error || "")
    ? el("button", { type: "button", "data-retry": `/api/sessions/${session.id}/retry-transfer`, text: "Retry transfer" })
    : null;
  return el("tr", { id: `session-${session.id}` },
    el("td", { text: `#${session.id}` }),
    el("td", { text: names[session.stream_id] || `(stream ${session.stream_id})` }),
    el("td", {}, el("span", { class: `badge ${session.status}`, text: session.status })),
    el("td", { text: when(session.window_start) }),
    el("td", { text: duration(session.duration_seconds ?? session.progress?.seconds) }),
    el("td", { text: session.size_bytes ? bytes(session.size_bytes) : "" }),
    el("td", { text: gaps ? `${gaps} (${duration(session.gaps.reduce((a, g) => a + g.seconds, 0))})` : "" }),
    el("td", { class: "why" }, text(session.error || transfer || session.file || ""), retry));
}

function timeline(box, sessions) {
  const days = [];
  for (let back = 13; back >= 0; back--) {
    const day = new Date(); day.setHours(0, 0, 0, 0); day.setDate(day.getDate() - back); days.push(day);
  }
  const most = Math.max(1, ...days.map((day) => sessions.filter((s) => sameDay(s, day)).length));
  box.replaceChildren(...days.map((day) => {
    const today = sessions.filter((s) => sameDay(s, day));
    const column = el("div", { class: "day", title: `${day.toDateString()}: ${today.length} sessions` });
    for (const [kind, test] of [["ok", (s) => s.status === "completed"], ["bad", (s) => ["failed", "missed"].includes(s.status)],
                                ["other", (s) => !["completed", "failed", "missed"].includes(s.status)]]) {
      const count = today.filter(test).length;
      if (!count) continue;
      const bar = el("span", { class: kind });
      bar.style.height = `${count / most * 100}%`;
      column.append(bar);
    }
    column.append(el("small", { text: day.getDate() }));
    return column;
  }));
}
const sameDay = (session, day) => new Date(session.window_start).toDateString() === day.toDateString();

async function refreshSessions(box) {
  const filters = new FormData(document.getElementById("session-filters"));
  const query = new URLSearchParams([...filters].filter(([, value]) => value));
  const [result, names] = await Promise.all([api("GET", `${box.dataset.poll}&${query}`), streamNames()]);
  const sessions = result.data.sessions || [];
  const chart = document.getElementById("timeline");
  if (chart) timeline(chart, sessions);
  if (!sessions.length) { box.replaceChildren(el("p", { class: "empty", text: "No sessions match." })); return; }
  box.replaceChildren(el("table", { class: "list" },
    el("thead", {}, el("tr", {}, ...["", "Stream", "Status", "When", "Length", "Size", "Gaps", "Result"]
      .map((label) => el("th", { text: label })))),
    el("tbody", {}, ...sessions.map((s) => sessionRow(s, names)))));
}

// ---- logs (followed live) and system status ------------------------------------------------------------------
const logState = { offset: null, key: "" };
async function refreshLogs(box) {
  const form = new FormData(document.getElementById("log-filters"));
  const key = `${form.get("file")}|${form.get("level")}`;
  if (key !== logState.key) { logState.key = key; logState.offset = null; box.replaceChildren(); }
  if (logState.offset !== null && !form.get("follow")) return;
  const query = new URLSearchParams({ file: form.get("file"), level: form.get("level"), limit: "300" });
  if (logState.offset !== null) query.set("after", logState.offset);
  const result = await api("GET", `/api/logs?${query}`);
  if (!result.ok) { flash(result.data.error, true); return; }
  logState.offset = result.data.next_offset;
  const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
  box.querySelector(".empty")?.remove();
  box.append(...result.data.entries.map((entry) => el("div", { class: `entry ${entry.level}` },
    el("span", { class: "time", text: entry.time }), el("span", { class: "level", text: entry.level }),
    el("span", {}, el("span", { class: "logger", text: `${entry.logger}: ` }), entry.message))));
  if (!box.children.length) box.append(el("p", { class: "empty", text: "Nothing logged at this level yet." }));
  if (stick) box.scrollTop = box.scrollHeight;
}

// ---- change history (the event log) ---------------------------------------------------------------------------
const EVENT_WORDS = {
  "stream.created": (d) => `Stream #${d.stream_id} “${d.stream.name}” added`,
  "stream.updated": (d) => `Stream #${d.stream_id} “${d.stream.name}” changed`,
  "stream.deleted": (d) => `Stream #${d.stream_id} deleted`,
  "schedule.created": (d) => `Schedule #${d.schedule_id} added: ${d.schedule.cron} for ${d.schedule.duration_minutes} min (stream #${d.schedule.stream_id})`,
  "schedule.updated": (d) => `Schedule #${d.schedule_id} changed: ${d.schedule.cron} for ${d.schedule.duration_minutes} min${d.schedule.active ? "" : ", paused"}`,
  "schedule.deleted": (d) => `Schedule #${d.schedule_id} deleted`,
  "session.scheduled": (d) => `Session #${d.session_id} for stream #${d.stream_id} ${d.schedule_id ? `(schedule #${d.schedule_id})` : "(record now)"}`,
  "session.started": (d) => `Session #${d.session_id} recording (part ${d.part})`,
  "session.gap": (d) => `Session #${d.session_id}: ${duration(d.seconds)} gap: ${d.reason}`,
  "session.recorded": (d) => `Session #${d.session_id} recorded ${duration(d.duration_seconds)}, ${bytes(d.size_bytes)}`,
  "session.processed": (d) => `Session #${d.session_id} tagged: ${d.file}`,
  "session.completed": (d) => `Session #${d.session_id} completed`,
  "transfer.attempted": (d) => `Session #${d.session_id}: upload attempt ${d.attempt} to ${d.destination}`,
  "transfer.failed": (d) => `Session #${d.session_id}: upload failed: ${d.reason}`,
  "transfer.completed": (d) => `Session #${d.session_id} uploaded to ${d.remote_path}`,
  "host.trusted": (d) => `Host key of ${d.host}:${d.port} trusted (${d.fingerprint})`,
  "config.applied": (d) => `Config file ${d.file} applied (${d.stream_ids.length} stream(s))`,
  "config.failed": (d) => `Config file ${d.file} not used: ${d.line ? `line ${d.line}: ` : d.field ? `${d.field}: ` : ""}${d.error}`,
  "config.removed": (d) => `Config file ${d.file} removed`,
};
function describeEvent(event) {
  const words = EVENT_WORDS[event.type];
  if (words) { try { return words(event.data); } catch (error) { /* an older shape: show the data */ } }
  const reason = event.data.reason ? `: ${event.data.reason}` : "";
  return event.data.session_id ? `Session #${event.data.session_id} ${event.type.split(".")[1]}${reason}`
                               : JSON.stringify(event.data);
}
async function showEvents(box, older) {
  const form = new FormData(document.getElementById("event-filters"));
  const query = new URLSearchParams([...form].filter(([, value]) => value));
  query.set("limit", "50");
  if (older) query.set("before", box.dataset.before);
  const result = await api("GET", `/api/events?${query}`);
  if (!result.ok) { flash(result.data.error, true); return; }
  const rows = result.data.events.map((e) => el("tr", { class: e.type.replace(".", "-") },
    el("td", { text: when(e.at) }), el("td", {}, el("code", { text: e.type })), el("td", { text: e.source }),
    el("td", { class: "why", text: describeEvent(e) })));
  const body = older && box.querySelector("tbody");
  if (body) body.append(...rows);
  else if (!rows.length) box.replaceChildren(el("p", { class: "empty", text: "No events match." }));
  else box.replaceChildren(el("table", { class: "list" }, el("thead", {}, el("tr", {},
    ...["When", "Event", "Source", "What happened"].map((label) => el("th", { text: label })))), el("tbody", {}, ...rows)));
  box.dataset.before = result.data.before ?? "";
  document.getElementById("older-events").hidden = result.data.before === null;
}
const eventsBox = document.querySelector("[data-events]");
if (eventsBox) {
  showEvents(eventsBox, false);
  document.getElementById("event-filters").addEventListener("change", () => showEvents(eventsBox, false));
  document.getElementById("older-events").addEventListener("click", () => showEvents(eventsBox, true));
}

function gauge(percent) {
  const bar = el("span");
  bar.style.width = `${Math.min(100, percent)}%`;
  return el("div", { class: `gauge${percent > 95 ? " full" : percent > 80 ? " high" : ""}`, role: "meter",
                     "aria-valuenow": percent, "aria-valuemin": 0, "aria-valuemax": 100 }, bar);
}

async function refreshStatus(box) {
  const result = await api("GET", box.dataset.status);
  if (!result.ok) return;
  const s = result.data;
  const stat = (label, value, sub) => el("div", { class: "card stat" }, el("span", { class: "label", text: label }),
                                         el("span", { class: "value", text: value }), el("span", { class: "sub", text: sub }));
  box.replaceChildren(
    stat("CPU", `${s.cpu_percent.toFixed(0)} %`, `${s.cpu_count} cores · load ${s.load_average[0].toFixed(2)}`),
    stat("Memory", `${s.memory.percent_used.toFixed(0)} %`, `recorder uses ${bytes(s.process.rss_bytes)}`),
    stat("Recording", String(s.active_recordings.length), `${s.queued_sessions.length} queued · ${s.process.ffmpeg_processes} ffmpeg`),
    stat("Transfers", String(s.pending_transfers.length), "pending"),
    stat("Uptime", duration(s.uptime_seconds), `version ${s.version} · ${s.last_event_seq} events`));
  document.getElementById("disks").replaceChildren(...s.disks.map((disk) => el("div", { class: "card" },
    el("strong", { text: `${disk.folder} ` }), el("code", { text: disk.path }), gauge(disk.percent_used),
    el("span", { class: "muted", text: `${bytes(disk.free_bytes)} free of ${bytes(disk.total_bytes)}` }))));
  document.getElementById("warnings").replaceChildren(...s.warnings.map((w) => el("p", { class: "warning", text: w })));
}

// ---- backups ---------------------------------------------------------------------------------------------------
async function refreshBackups(box) {
  const result = await api("GET", box.dataset.backups);
  const backups = result.data.backups || [];
  if (!backups.length) { box.replaceChildren(el("p", { class: "empty", text: "No backups yet." })); return; }
  box.replaceChildren(el("table", { class: "list" },
    el("thead", {}, el("tr", {}, ...["Name", "Made", "Contents", "Size", ""].map((label) => el("th", { text: label })))),
    el("tbody", {}, ...backups.map((b) => el("tr", { "data-backup": b.name },
      el("td", {}, el("strong", { text: b.name })),
      el("td", { text: when(b.created_at || b.modified) }),
      el("td", { text: b.damaged ? "damaged" : `${b.counts.streams} streams, ${b.counts.schedules} schedules, ` +
                                            `${b.counts.events} events${b.include_artwork ? ", artwork" : ""}` }),
      el("td", { text: bytes(b.size_bytes) }),
      el("td", { class: "buttons wrap" },
        el("button", { type: "button", "data-backup-action": "validate", text: "Validate" }),
        el("button", { type: "button", "data-backup-action": "merge", text: "Restore (add missing)" }),
        el("button", { type: "button", "data-backup-action": "overwrite", text: "Restore (overwrite)" }),
        el("a", { href: `/api/backup/download/${encodeURIComponent(b.name)}`, text: "Download" }),
        el("button", { type: "button", class: "danger", "data-backup-action": "delete", text: "Delete" })))))));
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-backup-action]");
  if (!button) return;
  const name = button.closest("[data-backup]").dataset.backup;
  const action = button.dataset.backupAction;
  if (action === "validate") {
    const result = await api("POST", "/api/backup/validate", { name });
    if (!result.ok) flash(result.data.error, true);
    else if (result.data.valid) flash(`${name} is valid and can be restored.`);
    else flash(`${name} cannot be restored: ${result.data.errors.join("; ")}`, true);
  } else if (action === "delete") {
    if (!confirm(`Delete the backup ${name}?`)) return;
    const result = await api("DELETE", "/api/backup/delete", { name });
    if (result.ok) refreshBackups(document.querySelector("[data-backups]")); else flash(result.data.error, true);
  } else {
    const overwrite = action === "overwrite";
    const question = overwrite
      ? `Restore ${name} and overwrite: streams and schedules not in the backup are deleted. Continue?`
      : `Restore ${name}: add the streams and schedules that are missing. Continue?`;
    if (!confirm(question)) return;
    const result = await api("POST", "/api/backup/restore", { name, overwrite });
    if (result.ok) flash(`Restored ${name}: ${result.data.events} changes.`); else flash(result.data.error, true);
  }
});

document.addEventListener("change", async (event) => {
  const input = event.target;
  if (!input.dataset.uploadBackup || !input.files.length) return;
  const body = new FormData();
  body.append("backup", input.files[0]);
  const result = await api("POST", input.dataset.uploadBackup, body, true);
  input.value = "";
  if (result.ok) { flash(`Uploaded ${result.data.name}.`); refreshBackups(document.querySelector("[data-backups]")); }
  else flash(result.data.error, true);
});

function refresh() {
  const backups = document.querySelector("[data-backups]");
  if (backups && !refresh.backupsShown) { refresh.backupsShown = true; refreshBackups(backups); }
  const logs = document.querySelector("[data-logs]");
  if (logs) refreshLogs(logs);
  const status = document.querySelector("[data-status]");
  if (status) refreshStatus(status);
  const live = document.getElementById("live");
  if (live) refreshLive(live);
  const history = document.getElementById("sessions");
  if (history) refreshSessions(history);
}
document.getElementById("session-filters")?.addEventListener("change", refresh);
document.getElementById("log-filters")?.addEventListener("change", refresh);
for (const node of document.querySelectorAll("time[datetime]")) node.textContent = when(node.dateTime);
if (document.querySelector("[data-poll], [data-logs], [data-status], [data-backups]")) {
  refresh();
  setInterval(refresh, 2000);
}
