// attnsr serve: upload images, follow each job's tile progress, compare before/after, keep a gallery.
// Plain browser JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 250;
const MAX_RETRIES = 20;          // 503 (queue full) retries per image, each after the server's Retry-After
const MAX_POLLS = 4 * 60 * 60;   // one hour of polling at POLL_MS, then the page gives up on the job
let catalogue = null;
const gallery = [];               // {name, label, after, before, width, height} with blob: URLs
const active = new Set();         // job ids still running on the server (cancelled when the page closes)

function showMessage(text) {
  const m = $("message");
  m.textContent = text || "";
  m.hidden = !text;
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return `HTTP ${response.status} ${response.statusText}`;
}

// ------------------------------------------------------------------ options
async function loadModels() {
  const r = await fetch("/v1/models");
  if (!r.ok) { showMessage(`cannot list models: ${await errorText(r)}`); return; }
  catalogue = await r.json();
  const select = $("model");
  for (const m of catalogue.models) {
    const o = document.createElement("option");
    o.value = m.id;
    o.textContent = m.label;
    o.selected = m.id === catalogue.default;
    select.append(o);
  }
  fillScales();
  const lim = catalogue.limits;
  $("limits").textContent = `PNG, JPEG, TIFF, WebP, BMP · up to ${(lim.max_upload_bytes / 1048576).toFixed(0)} MiB ` +
    `and ${(lim.max_pixels / 1e6).toFixed(1)} megapixels · 16-bit and transparency are kept`;
}

function fillScales() {
  const m = catalogue.models.find((x) => x.id === $("model").value);
  const select = $("scale");
  select.replaceChildren();
  for (const s of m ? m.scales : []) {
    const o = document.createElement("option");
    o.value = String(s);
    o.textContent = `×${s}`;
    select.append(o);
  }
}

// ------------------------------------------------------------------ jobs
function newCard(name) {
  const card = document.createElement("div");
  card.className = "card";
  const n = document.createElement("span");
  n.className = "name";
  n.textContent = name;
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  const state = document.createElement("span");
  state.className = "state";
  state.textContent = "uploading…";
  card.append(n, bar, state);
  $("queue").prepend(card);
  return {
    card, bar,
    set(text, done, total) {
      state.textContent = text;
      if (total) { bar.max = total; bar.value = done; }
    },
    fail(text) {
      card.classList.add("error");
      state.textContent = text;
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function submit(file, ui) {
  const form = new FormData();
  form.append("model", $("model").value);
  form.append("scale", $("scale").value);
  form.append("self_ensemble", $("ensemble").checked ? "true" : "false");
  form.append("tile", $("tile").value.trim() || "auto");
  form.append("before", "true");
  form.append("respond", "job");
  form.append("image", file, file.name);
  for (let attempt = 0; attempt <= MAX_RETRIES; attempt++) {
    const r = await fetch("/v1/upscale", { method: "POST", body: form });
    if (r.status === 503 && attempt < MAX_RETRIES) {
      const wait = Number(r.headers.get("Retry-After") || "2");
      ui.set(`server busy, retrying in ${wait} s`);
      await sleep(wait * 1000);
      continue;
    }
    if (!r.ok) throw new Error(await errorText(r));
    return r.json();
  }
  throw new Error("server busy: the queue stayed full");
}

async function follow(job, ui) {
  active.add(job.id);
  try {
    for (let i = 0; i < MAX_POLLS; i++) {
      const r = await fetch(`/v1/jobs/${job.id}`);
      if (!r.ok) throw new Error(await errorText(r));
      const s = await r.json();
      if (s.state === "done") return s;
      if (s.state === "failed" || s.state === "cancelled") throw new Error(s.error || s.state);
      const where = s.state === "queued" ? `queued${s.queue_position ? ` (#${s.queue_position + 1})` : ""}`
        : `tile ${s.tiles_done}/${s.tiles_total || "?"}`;
      ui.set(where, s.tiles_done, s.tiles_total);
      await sleep(POLL_MS);
    }
    throw new Error("gave up waiting for the server");
  } finally {
    active.delete(job.id);
  }
}

async function fetchBlob(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(await errorText(r));
  return URL.createObjectURL(await r.blob());
}

async function upscaleFile(file) {
  const ui = newCard(file.name);
  try {
    const job = await submit(file, ui);
    ui.set("queued", 0, 0);
    const s = await follow(job, ui);
    const [after, before] = await Promise.all([fetchBlob(s.result), fetchBlob(s.before)]);
    fetch(`/v1/jobs/${s.id}`, { method: "DELETE" });  // the page keeps its copies; free the server's
    ui.set(`done · ${s.out_width}×${s.out_height}`, 1, 1);
    const label = catalogue.models.find((m) => m.id === s.model)?.label || s.model;
    const item = { name: downloadName(file.name, s.scale), label: `${s.model} ×${s.scale}${s.self_ensemble ? " +" : ""}`,
                   title: label, after, before, width: s.out_width, height: s.out_height };
    gallery.push(item);
    addToGallery(item);
    show(item);
    ui.card.classList.add("done");
  } catch (err) {
    ui.fail(err.message);
  }
}

function downloadName(name, scale) {
  const stem = name.replace(/\.[^.]*$/, "") || "image";
  return `${stem}_x${scale}.png`;
}

function handleFiles(files) {
  showMessage("");
  if (!catalogue) { showMessage("the model list did not load; reload the page"); return; }
  for (const f of files) upscaleFile(f);
}

// ------------------------------------------------------------------ gallery
function addToGallery(item) {
  const b = document.createElement("button");
  b.type = "button";
  b.title = `${item.name} (${item.title})`;
  const img = document.createElement("img");
  img.src = item.after;
  img.alt = item.name;
  const cap = document.createElement("span");
  cap.textContent = `${item.name} · ${item.label}`;
  b.append(img, cap);
  b.addEventListener("click", () => show(item));
  item.button = b;
  $("gallery").prepend(b);
}

// ------------------------------------------------------------------ before/after viewer
// One view (zoom z = screen px per image px, offset tx/ty in screen px) drives both images, so zoom and
// pan are always the same on both sides; the after layer is clipped left of the split.
const view = { z: 1, tx: 0, ty: 0, split: 0.5, w: 0, h: 0, current: null };

function applyView() {
  const t = `translate(${view.tx}px, ${view.ty}px) scale(${view.z})`;
  $("img-before").style.transform = t;
  $("img-after").style.transform = t;
  $("after-layer").style.clipPath = `inset(0 0 0 ${(view.split * 100).toFixed(3)}%)`;
  $("split").style.left = `${(view.split * 100).toFixed(3)}%`;
  $("split").setAttribute("aria-valuenow", String(Math.round(view.split * 100)));
  $("zoom-level").textContent = `${Math.round(view.z * 100)}%`;
  $("viewer").classList.toggle("pixels", view.z >= 2);
}

function fit() {
  const box = $("viewer").getBoundingClientRect();
  view.z = Math.min(box.width / view.w, box.height / view.h);
  view.tx = (box.width - view.w * view.z) / 2;
  view.ty = (box.height - view.h * view.z) / 2;
  applyView();
}

function zoomAt(factor, cx, cy) {
  const z = Math.min(32, Math.max(0.05, view.z * factor));
  view.tx = cx - (cx - view.tx) * (z / view.z);
  view.ty = cy - (cy - view.ty) * (z / view.z);
  view.z = z;
  applyView();
}

function zoomCentre(factor) {
  const box = $("viewer").getBoundingClientRect();
  zoomAt(factor, box.width / 2, box.height / 2);
}

function show(item) {
  view.current = item;
  view.w = item.width;
  view.h = item.height;
  $("result").hidden = false;
  $("result-name").textContent = `${item.name} — ${item.width}×${item.height}`;
  $("after-tag").textContent = `after · ${item.label}`;
  $("img-before").src = item.before;
  $("img-after").src = item.after;
  for (const id of ["img-before", "img-after"]) $(id).style.width = `${item.width}px`;
  const dl = $("download");
  dl.href = item.after;
  dl.download = item.name;
  for (const g of gallery) g.button?.classList.toggle("current", g === item);
  fit();
}

function setupViewer() {
  const viewer = $("viewer");
  let drag = null;
  viewer.addEventListener("pointerdown", (e) => {
    const box = viewer.getBoundingClientRect();
    const onSplit = e.target.closest("#split") || Math.abs(e.clientX - box.left - view.split * box.width) < 10;
    drag = { mode: onSplit ? "split" : "pan", x: e.clientX, y: e.clientY, tx: view.tx, ty: view.ty };
    viewer.setPointerCapture(e.pointerId);
    viewer.classList.toggle("panning", !onSplit);
  });
  viewer.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const box = viewer.getBoundingClientRect();
    if (drag.mode === "split") {
      view.split = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
    } else {
      view.tx = drag.tx + e.clientX - drag.x;
      view.ty = drag.ty + e.clientY - drag.y;
    }
    applyView();
  });
  const end = () => { drag = null; viewer.classList.remove("panning"); };
  viewer.addEventListener("pointerup", end);
  viewer.addEventListener("pointercancel", end);
  viewer.addEventListener("wheel", (e) => {
    e.preventDefault();
    const box = viewer.getBoundingClientRect();
    zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - box.left, e.clientY - box.top);
  }, { passive: false });
  $("split").addEventListener("keydown", (e) => {
    const step = e.key === "ArrowLeft" ? -0.05 : e.key === "ArrowRight" ? 0.05 : 0;
    if (step) { view.split = Math.min(1, Math.max(0, view.split + step)); applyView(); e.preventDefault(); }
  });
  $("zoom-in").addEventListener("click", () => zoomCentre(1.5));
  $("zoom-out").addEventListener("click", () => zoomCentre(1 / 1.5));
  $("zoom-fit").addEventListener("click", fit);
  $("zoom-1").addEventListener("click", () => zoomCentre(1 / view.z));
  window.addEventListener("resize", () => { if (view.current) fit(); });
}

// ------------------------------------------------------------------ start
function setupDrop() {
  const drop = $("drop");
  $("files").addEventListener("change", (e) => { handleFiles([...e.target.files]); e.target.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    handleFiles([...e.dataTransfer.files]);
  });
}

window.addEventListener("pagehide", () => {
  for (const id of active) fetch(`/v1/jobs/${id}`, { method: "DELETE", keepalive: true });
});

document.addEventListener("DOMContentLoaded", () => {
  $("model").addEventListener("change", fillScales);
  setupDrop();
  setupViewer();
  loadModels().catch((err) => showMessage(`cannot reach the server: ${err.message}`));
});
