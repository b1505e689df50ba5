// minicnn serve: the page's logic. No framework, no network beyond this server (see docs/serve.md).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
let card = null;                       // GET /api/model, once loaded
const NAMES = { notumor: "no tumour" };
const nice = (c) => NAMES[c] || c;
const pct = (p) => (100 * p).toFixed(p > 0.999 || p < 0.001 ? 2 : 1) + "%";
const kb = (n) => (n < 1024 * 1024 ? (n / 1024).toFixed(1) + " KB" : (n / 1048576).toFixed(1) + " MB");

function augmentations(a) {
  // the Augmenter's recorded settings -> "flip, shift"; a custom callable is recorded as text
  if (typeof a !== "object") return "custom";
  const used = [["flip", a.flip], ["shift", a.max_shift], ["rotation", a.max_rotate],
    ["zoom", a.max_zoom], ["contrast", a.max_contrast], ["brightness", a.max_brightness]];
  return used.filter(([, on]) => on).map(([name]) => name).join(", ") || "none";
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function status(text) { $("#status").textContent = text; }

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// ---- model card -----------------------------------------------------------------------------
function renderCard(c) {
  const dl = el("dl", { class: "facts" });
  const add = (term, value) => { dl.append(el("dt", {}, term), el("dd", {}, value)); };
  const mflops = c.flops_per_image ? `, ${(c.flops_per_image / 1e6).toFixed(0)} M FLOPs per image` : "";
  add("Model", `${c.name}: ${c.params.toLocaleString("en")} parameters${mflops}`);
  add("Input", `${c.input.image_size}×${c.input.image_size} ${c.input.color}`);
  add("Classes", c.classes.map(nice).join(", "));
  add("Trained on", c.data);
  const s = c.split || {};
  if (s.n_train && !s.n_val) {
    add("Split", `all ${s.n_train.toLocaleString("en")} images for training, none held out for validation`);
  } else if (s.n_train) {
    add("Split", `${s.n_train.toLocaleString("en")} training / ${s.n_val.toLocaleString("en")} validation ` +
      `(${Math.round(100 * s.val_fraction)}%, seed ${s.seed}` +
      `${s.mirrors_kept_together ? ", duplicates and mirror images kept on one side"
         : s.duplicates_kept_together ? ", duplicates kept on one side" : ""})`);
  }
  if (c.val_accuracy !== null) {
    const of = c.training && c.training.epochs ? ` of ${c.training.epochs}` : "";
    add("Validation accuracy", `${(100 * c.val_accuracy).toFixed(1)}%` + (c.epoch ? ` (epoch ${c.epoch}${of})` : ""));
  }
  const t = c.training;
  if (t) add("Training", `${t.optimizer}, ${t.lr_schedule || "constant"} schedule, batch ${t.batch_size}` +
    (t.augment ? `, augmented (${augmentations(t.augment)})` : "") +
    (t.ema ? `, moving average of the weights (decay ${t.ema})` : "") +
    (t.label_smoothing ? `, label smoothing ${t.label_smoothing}` : ""));
  const box = $("#model-card");
  box.replaceChildren(dl, el("p", { class: "note" }, c.leakage_note), el("p", { class: "disclaimer" }, c.disclaimer));
}

// ---- one result -----------------------------------------------------------------------------
function newResult(name, meta) {
  const node = $("#result-template").content.firstElementChild.cloneNode(true);
  $(".file-name", node).textContent = name;
  $(".meta", node).textContent = meta;
  node.classList.add("pending");
  $(".class-name", node).textContent = "classifying…";
  $("#empty").hidden = true;
  $("#clear").hidden = false;
  $("#results").prepend(node);
  return node;
}

function showError(node, message) {
  node.classList.remove("pending");
  node.classList.add("error");
  node.setAttribute("role", "alert");
  $(".result-body", node).replaceChildren(el("p", { class: "error-msg" }, message));
}

function showAnswer(node, r, roundTrip, truth) {
  node.classList.remove("pending");
  const size = card ? `${card.input.image_size}×${card.input.image_size}` : "";
  const scan = $(".scan-img", node), cam = $(".cam-img", node);
  scan.src = "data:image/png;base64," + r.input_png;
  scan.alt = `the scan as the model saw it (${size} ${card ? card.input.color : ""})`;
  cam.src = "data:image/png;base64," + r.gradcam_png;
  cam.alt = `Grad-CAM heat map for ${nice(r.class)}: red where the model looked most`;
  $(".caption", node).textContent = `model input ${size} · Grad-CAM at layer ${r.gradcam_layer}`;
  $(".class-name", node).textContent = nice(r.class);
  $(".pct", node).textContent = pct(r.probability);
  if (truth) {
    const ok = truth === r.class;
    const t = $(".truth", node);
    t.textContent = `Sample's label: ${nice(truth)} ${ok ? "✓ correct" : "✗ the model is wrong here"}`;
    t.classList.add(ok ? "ok" : "wrong");
  }
  const bars = $(".bars", node);
  bars.setAttribute("aria-label", "probabilities");
  for (const [c, p] of Object.entries(r.probabilities)) {
    const li = el("li", c === r.class ? { class: "best" } : {});
    const bar = el("span", { class: "bar", "aria-hidden": "true" });
    const fill = el("span", { class: "fill" });
    fill.style.width = (100 * p).toFixed(1) + "%";
    bar.append(fill);
    li.append(el("span", { class: "name" }, nice(c)), bar, el("span", { class: "val" }, pct(p)));
    bars.append(li);
  }
  const toggle = $(".cam-toggle", node), opacity = $(".cam-opacity", node);
  const apply = () => {
    cam.hidden = !toggle.checked;
    opacity.disabled = !toggle.checked;
    cam.style.opacity = opacity.value / 100;
  };
  toggle.addEventListener("change", apply);
  opacity.addEventListener("input", apply);
  apply();
  const d = r.timing_detail_ms;
  $(".timing", node).textContent = `${Math.round(r.timing_ms)} ms on the server (decode ${d.decode.toFixed(1)}, ` +
    `predict ${d.predict.toFixed(1)}, Grad-CAM ${d.gradcam.toFixed(1)}) · ${Math.round(roundTrip)} ms round trip`;
}

// ---- upload ---------------------------------------------------------------------------------
async function classify(blob, name, truth) {
  const meta = truth ? `bundled sample · ${kb(blob.size)}` : `${blob.type || "file"} · ${kb(blob.size)}`;
  const node = newResult(name, meta);
  const limit = card ? card.limits.max_upload_bytes : Infinity;
  if (blob.size > limit) {
    showError(node, `${name} is ${kb(blob.size)}; the server takes at most ${kb(limit)}.`);
    status(`${name}: too large`);
    return;
  }
  status(`Classifying ${name}…`);
  const t0 = performance.now();
  try {
    const r = await fetch("/api/predict", { method: "POST", body: blob,
      headers: { "Content-Type": blob.type || "application/octet-stream" } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
    const info = body.image;
    $(".meta", node).textContent = `${info.format} ${info.width}×${info.height} ${info.mode} · ${kb(info.bytes)}` +
      (truth ? " · bundled sample" : "");
    showAnswer(node, body, performance.now() - t0, truth);
    status(`${name}: ${nice(body.class)} (${pct(body.probability)})`);
  } catch (e) {
    showError(node, `Could not classify ${name}: ${e.message}`);
    status(`${name}: error`);
  }
}

async function classifyFiles(files) {
  for (const f of files) await classify(f, f.name, null);   // one at a time, in order
}

function base64Blob(b64, type) {
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  return new Blob([bytes], { type });
}

function renderSamples(samples) {
  const box = $("#samples");
  box.replaceChildren();
  for (const s of samples) {
    const b = el("button", { type: "button", class: "sample" });
    const img = el("img", { src: "data:image/png;base64," + s.png, alt: "" });
    b.append(img, el("span", {}, nice(s.label)));
    b.setAttribute("aria-label", `classify a bundled ${nice(s.label)} scan (${s.split} split: ${s.name})`);
    b.title = s.name;
    b.addEventListener("click", () => classify(base64Blob(s.png, "image/png"), s.name, s.label));
    box.append(b);
  }
  if (!samples.length) box.replaceChildren(el("p", { class: "muted" }, "No bundled samples for this model."));
}

// ---- wiring ---------------------------------------------------------------------------------
function wire() {
  const input = $("#file"), drop = $("#drop");
  input.addEventListener("change", () => { classifyFiles([...input.files]); input.value = ""; });
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); classifyFiles([...e.dataTransfer.files]); });
  $("#clear").addEventListener("click", () => {
    for (const r of document.querySelectorAll("#results .result")) r.remove();
    $("#empty").hidden = false;
    $("#clear").hidden = true;
    $("#file").focus();
  });
}

async function start() {
  wire();
  const [c, s] = await Promise.allSettled([getJSON("/api/model"), getJSON("/api/samples")]);
  if (c.status === "fulfilled") { card = c.value; renderCard(card); }
  else $("#model-card").replaceChildren(el("p", { class: "error-msg" }, `Model card unavailable: ${c.reason.message}`));
  if (s.status === "fulfilled") renderSamples(s.value.samples);
  else $("#samples").replaceChildren(el("p", { class: "error-msg" }, `Samples unavailable: ${s.reason.message}`));
  document.body.dataset.ready = "1";
}

start();
