// The page: what the learner gives (a drawing, a picture, a test digit), one request per image to /api/read, and
// the answer shown at the step the slider is on.
"use strict";
(function () {
  const $ = function (id) { return document.getElementById(id); };
  const api = window.rnnApi, charts = window.rnnCharts;
  const state = { info: null, answer: null, input: null, step: 1, timer: null, asked: 0, nth: 0 };
  window.rnnPage = state;  // what the page shows, for the browser test and the curious
  const DRAWING = "your drawing";
  const WHOLE = 100;  // a model of up to this many steps gets every layer at once; a longer one, the layer shown

  function say(text, isError) {
    const box = $("message");
    box.textContent = text || "";
    box.className = isError ? "error" : "";
  }

  // An input that could not be read: the error names it, and the answer still shown is marked as another input's.
  function failed(what, error) {
    say(what + ": " + error, true);
    if (!state.answer) return;
    document.body.classList.add("stale");
    $("source").textContent = "— not " + what + ": still " + state.shownWhat;
  }

  function option(select, value, text, disabled, title) {
    const o = document.createElement("option");
    o.value = value; o.textContent = text; o.disabled = !!disabled;
    if (title) o.title = title;
    select.appendChild(o);
  }

  async function start() {
    const got = await api.info();
    if (!got.ok) { say(got.data.error, true); return; }
    const info = state.info = got.data;
    state.readyAt = performance.now();  // the page has the model: what the benchmark reads
    const m = info.model;
    $("model").textContent = (m.bidirectional ? "bidirectional " : "") + m.cell.toUpperCase() + " " + m.layers +
      " × " + m.hidden.join("/") + " reading " + info.dataset + " " + info.view + ": " + info.steps + " steps of " +
      info.features + " — " + info.run;
    Object.keys(info.engines).forEach(function (name) {
      const e = info.engines[name];
      option($("engine"), name, e.runs ? name : name + " (not here)", !e.runs, e.reason || "");
    });
    $("engine").value = info.engine;
    for (let k = 1; k <= m.layers; k++) option($("layer"), k, "layer " + k + (k === m.layers ? " (last)" : ""));
    $("layer").value = m.layers;
    option($("direction"), "forward", "forward");
    if (m.bidirectional) option($("direction"), "backward", "backward");
    info.classes.forEach(function (name, k) { option($("sample-class"), k, name); });
    if (!info.samples.available) {
      $("samples").disabled = true;
      $("samples-why").textContent = "Not available: " + info.samples.reason + ".";
    }
    $("note").textContent = info.note;
    $("step").max = info.steps;
  }

  function layerAsked() {
    return state.info.steps <= WHOLE ? "all" : Number($("layer").value);
  }

  async function read(input, what) {
    state.input = input; state.what = what;
    const asked = ++state.asked;
    const body = Object.assign({ engine: $("engine").value, layer: layerAsked() }, input);
    say("reading " + what + "…");
    const started = performance.now();
    const got = await api.read(body);
    if (asked !== state.asked) return;  // a newer request went out meanwhile: its answer is the one to show
    if (!got.ok) { failed(what, got.data.error); return; }
    say("");
    state.answer = got.data;
    const s = got.data.sample;
    if (s) what = "test digit " + s.index + " (a " + s.class_name + ")";  // its true class, however it was picked
    state.shownWhat = what;
    document.body.classList.remove("stale");
    $("play").disabled = $("step").disabled = false;
    $("source").textContent = "— " + what;
    if (what !== DRAWING) pad.clear();  // the pad shows only what is read
    $("timing").textContent = "answered in " + Math.round(performance.now() - started) + " ms (" +
      got.data.engine + ")";
    stop();
    setStep(state.info.steps);
    document.body.dataset.answered = String(asked);
  }

  function setStep(t) {
    state.step = Math.max(1, Math.min(state.info.steps, t));
    $("step").value = state.step;
    show();
  }

  function show() {
    const a = state.answer, info = state.info, t = state.step;
    if (!a) return;
    $("step-text").textContent = "step " + t + " of " + info.steps;
    charts.reading($("seen"), a.image, a.order.step_of, t, a.order.view);
    charts.order($("order"), a.order.step_of, info.steps);
    $("order-text").textContent = "Read " + a.order.text.replace(/^read /, "") + ". Left: what the model " +
      "reads (the step being read in orange, the steps to come dimmed); right: the reading order (dark first).";
    const now = a.probabilities_after_each_step[t - 1];
    const best = now.indexOf(Math.max.apply(null, now));
    const final = info.classes[a.class];
    $("verdict").innerHTML = "";
    const lead = document.createElement("span");
    lead.textContent = (t === info.steps ? "It reads " : "After step " + t + " it would say ");
    const name = document.createElement("b");
    name.id = "shown-class";
    name.textContent = info.classes[best];
    name.style.color = charts.colour(best);
    const rest = document.createElement("span");
    rest.textContent = " (" + (100 * now[best]).toFixed(1) + "%)" + (t === info.steps ? "" : "; at the end: " + final);
    $("verdict").append(lead, name, rest);
    charts.bars($("bars"), now, info.classes);
    charts.lines($("lines"), a.probabilities_after_each_step, t, info.classes);
    maps();
  }

  function maps() {
    const a = state.answer, k = Number($("layer").value), box = $("maps");
    const layer = a.layers.find(function (l) { return l.layer === k; });
    box.innerHTML = "";
    if (!layer) return;
    const d = layer.directions.find(function (x) { return x.direction === $("direction").value; }) ||
      layer.directions[0];
    $("direction-note").textContent = d.direction === "backward" ? "Backward: it reads the sequence from the " +
      "last step, so its state at step t has already read steps t to " + state.info.steps + "." : "";
    const shown = [["hidden state h", d.h, "state"]];
    if (d.c) shown.push(["cell state c", d.c, "state"]);
    Object.keys(d.gates).forEach(function (g) {
      shown.push([g + (g === "candidate" ? "" : " gate"), d.gates[g], g === "candidate" ? "state" : "gate"]);
    });
    shown.forEach(function (item) {
      const div = document.createElement("div"), h3 = document.createElement("h3"), c = document.createElement("canvas");
      div.className = "map";
      div.appendChild(h3); div.appendChild(c); box.appendChild(div);
      const scale = charts.heatmap(c, item[1], state.step, item[2]);
      const units = item[1][0].length;
      h3.textContent = item[0] + " ";
      const small = document.createElement("span");
      small.textContent = units + " units · steps 1–" + state.step + (item[2] === "state" && scale > 1 ?
        " · ±" + scale.toFixed(1) : "");
      h3.appendChild(small);
    });
  }

  function stop() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    $("play").textContent = "▶ Play";
  }

  function play() {
    if (!state.answer) return;
    if (state.timer) { stop(); return; }
    const T = state.info.steps, stride = Math.max(1, Math.ceil(T / 120));
    if (state.step >= T) setStep(1);
    $("play").textContent = "❚❚ Pause";
    state.timer = setInterval(function () {
      if (state.step >= T) { stop(); return; }
      setStep(state.step + stride);
    }, T > 120 ? 40 : 110);
  }

  const pad = window.rnnDraw($("draw"), function () {
    read({ image: pad.picture() }, DRAWING);
  });
  $("clear").addEventListener("click", function () {
    pad.clear(); say("Cleared: draw a digit.");
  });
  $("read").addEventListener("click", function () { read({ image: pad.picture() }, DRAWING); });
  $("upload").addEventListener("change", function () {
    const file = $("upload").files[0];
    if (!file) return;
    const most = state.info.max_upload_bytes;
    if (file.size > most) {  // the server would refuse its base64, a third larger: name the file's own size
      $("upload").value = "";
      failed(file.name, (file.size / 1e6).toFixed(1) + " MB; the playground takes pictures up to " +
        (most / 1e6).toFixed(1) + " MB (scale it down first)");
      return;
    }
    const reader = new FileReader();
    reader.onload = function () { read({ image: reader.result }, file.name); };
    reader.onerror = function () { failed(file.name, "the browser could not read the file"); };
    reader.readAsDataURL(file);
    $("upload").value = "";
  });
  $("sample-show").addEventListener("click", function () {
    const text = $("sample-index").value.trim();  // a number box's value: "" when empty or not a number
    if (!/^[0-9]{1,9}$/.test(text)) {
      failed("test digit " + (text || "(no index)"), "index: expected a whole number >= 0" +
        (text ? ", got " + text : "; the box is empty"));
      return;
    }
    read({ sample: Number(text) }, "test digit " + text);
  });
  $("sample-next").addEventListener("click", async function () {
    const cls = $("sample-class").value;
    let got = await api.sample({ "class": cls, nth: state.nth++ });
    if (!got.ok && got.status === 404 && state.nth > 1) {  // past the class's last image: back to its first
      state.nth = 0;
      got = await api.sample({ "class": cls, nth: state.nth++ });
    }
    if (!got.ok) { failed("another " + $("sample-class").selectedOptions[0].text, got.data.error); return; }
    $("sample-index").value = got.data.index;
    read({ sample: got.data.index }, "test digit " + got.data.index + " (a " + got.data.class_name + ")");
  });
  $("sample-class").addEventListener("change", function () { state.nth = 0; });
  $("engine").addEventListener("change", function () { if (state.input) read(state.input, state.what); });
  $("layer").addEventListener("change", function () {
    if (state.answer && layerAsked() !== "all") read(state.input, state.what); else maps();
  });
  $("direction").addEventListener("change", maps);
  $("step").addEventListener("input", function () { stop(); setStep(Number($("step").value)); });
  $("play").addEventListener("click", play);
  window.addEventListener("resize", show);
  start();
})();
