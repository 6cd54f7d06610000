// Charts drawn on <canvas> by hand: the image as read, the reading order, P(class) as bars and lines, and heatmaps
// of states and gates (units down, steps across). Step t counts from 1; arrays are indexed from 0.
"use strict";
window.rnnCharts = (function () {
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#3f4fa8",
    "#bcbd22", "#17becf"];
  const colour = function (k) { return PALETTE[k % PALETTE.length]; };

  function sharp(canvas) {
    // the canvas's own pixels follow its shown size and the screen's density, so text stays crisp
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * ratio), h = Math.round(canvas.clientHeight * ratio);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
    return { ctx: ctx, w: canvas.clientWidth, h: canvas.clientHeight };
  }

  // The image at the model's size: pixels read by step t in gray, the others dim and blue-gray; the step being
  // read outlined in orange (a row, a column or a pixel).
  function reading(canvas, image, stepOf, t, view) {
    const H = image.length, W = image[0].length;
    const ctx = canvas.getContext("2d");
    canvas.width = W; canvas.height = H;
    const data = ctx.createImageData(W, H);
    let low = Infinity, high = -Infinity;
    image.forEach(function (row) { row.forEach(function (v) { low = Math.min(low, v); high = Math.max(high, v); }); });
    const span = high > low ? high - low : 1;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const g = (image[y][x] - low) / span, i = 4 * (y * W + x);
        const read = stepOf[y][x] < t;
        const rgb = read ? [g, g, g] : [0.12 + 0.45 * g * 0.36, 0.12 + 0.45 * g * 0.45, 0.12 + 0.45 * g * 0.62];
        data.data[i] = 255 * rgb[0]; data.data[i + 1] = 255 * rgb[1]; data.data[i + 2] = 255 * rgb[2];
        data.data[i + 3] = 255;
        if (stepOf[y][x] === t - 1) { data.data[i] = 255; data.data[i + 1] = 150 + 90 * g; data.data[i + 2] = 40 * g; }
      }
    }
    ctx.putImageData(data, 0, 0);
  }

  // The reading order: each pixel by the step that reads it, dark first, light last.
  function order(canvas, stepOf, steps) {
    const H = stepOf.length, W = stepOf[0].length;
    canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext("2d");
    const data = ctx.createImageData(W, H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const v = steps > 1 ? stepOf[y][x] / (steps - 1) : 0, i = 4 * (y * W + x);
        data.data[i] = 30 + 200 * v; data.data[i + 1] = 40 + 170 * v; data.data[i + 2] = 90 + 120 * v;
        data.data[i + 3] = 255;
      }
    }
    ctx.putImageData(data, 0, 0);
  }

  // P(class) after step t, one bar a class, the top one in its colour and the others gray.
  function bars(canvas, probs, names) {
    const s = sharp(canvas), ctx = s.ctx;
    const left = 8, bottom = 34, top = 18, n = probs.length;
    const slot = (s.w - left * 2) / n, height = s.h - bottom - top;
    const best = probs.indexOf(Math.max.apply(null, probs));
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = "center";
    probs.forEach(function (p, k) {
      const x = left + k * slot, bar = Math.max(1, p * height);
      ctx.fillStyle = k === best ? colour(k) : "#b8bfcc";
      ctx.fillRect(x + slot * 0.15, top + height - bar, slot * 0.7, bar);
      ctx.fillStyle = "#1d2330";
      ctx.fillText(Math.round(100 * p) + "%", x + slot / 2, top + height - bar - 4);
      ctx.save();
      ctx.font = (k === best ? "bold " : "") + "12px system-ui, sans-serif";
      ctx.fillText(shorten(names[k], slot), x + slot / 2, s.h - bottom + 16);
      ctx.restore();
    });
    ctx.fillStyle = "#5a6274";
    ctx.textAlign = "left";
    ctx.fillText("P(class) after this step", left, s.h - 4);
  }

  function shorten(name, room) {
    const most = Math.max(1, Math.floor(room / 7));
    return name.length <= most ? name : name.slice(0, Math.max(1, most - 1)) + "…";
  }

  // P(class) over steps 1..t, one line a class; the x axis spans every step, so the lines grow as it plays.
  function lines(canvas, all, t, names) {
    const s = sharp(canvas), ctx = s.ctx;
    const left = 34, right = 64, top = 10, bottom = 26, T = all.length;
    const w = s.w - left - right, h = s.h - top - bottom;
    const x = function (step) { return left + (T > 1 ? ((step - 1) * w) / (T - 1) : w / 2); };
    const y = function (p) { return top + (1 - p) * h; };
    ctx.strokeStyle = "#d5d9e2"; ctx.fillStyle = "#5a6274"; ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    [0, 0.5, 1].forEach(function (p) {
      ctx.beginPath(); ctx.moveTo(left, y(p)); ctx.lineTo(left + w, y(p)); ctx.stroke();
      ctx.textAlign = "right"; ctx.fillText(p.toFixed(1), left - 4, y(p) + 4);
    });
    ctx.textAlign = "center";
    [1, Math.round(T / 2), T].forEach(function (step) { ctx.fillText(String(step), x(step), s.h - bottom + 14); });
    ctx.fillText("step", left + w / 2, s.h - 2);
    ctx.beginPath(); ctx.strokeStyle = "#f0a020"; ctx.moveTo(x(t), top); ctx.lineTo(x(t), top + h); ctx.stroke();
    const now = all[t - 1];
    const ranked = now.map(function (p, k) { return k; }).sort(function (a, b) { return now[b] - now[a]; });
    const labelled = ranked.slice(0, 3).filter(function (k) { return now[k] >= 0.05 || k === ranked[0]; });
    ranked.slice().reverse().forEach(function (k) {
      const strong = labelled.indexOf(k) >= 0;
      ctx.beginPath();
      ctx.strokeStyle = strong ? colour(k) : "rgba(150, 158, 175, 0.55)";
      ctx.lineWidth = strong ? 2.2 : 1;
      for (let step = 1; step <= t; step++) {
        const px = x(step), py = y(all[step - 1][k]);
        if (step === 1) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      }
      ctx.stroke();
    });
    // the labels at the lines' ends, 13 px apart at least, kept inside the plot
    const placed = labelled.map(function (k) { return { k: k, at: y(now[k]) + 4 }; })
      .sort(function (a, b) { return a.at - b.at; });
    placed.forEach(function (label, i) { if (i > 0) label.at = Math.max(label.at, placed[i - 1].at + 13); });
    for (let i = placed.length - 1, floor = top + h + 4; i >= 0; i--, floor -= 13) {
      placed[i].at = Math.min(placed[i].at, floor);
    }
    ctx.textAlign = "left"; ctx.font = "bold 12px system-ui, sans-serif";
    placed.forEach(function (label) {
      ctx.fillStyle = colour(label.k);
      ctx.fillText(shorten(names[label.k], right - 6), x(t) + 6, label.at);
    });
  }

  // One map: rows are units, columns steps 1..T; the columns after step t left blank. kind: "state" (diverging,
  // scaled by the largest |value| of the whole sequence, at least 1) or "gate" (0 to 1).
  function heatmap(canvas, values, t, kind) {
    const T = values.length, U = values[0].length;
    let scale = 1;
    if (kind === "state") values.forEach(function (row) { row.forEach(function (v) { scale = Math.max(scale, Math.abs(v)); }); });
    const off = document.createElement("canvas");
    off.width = T; off.height = U;
    const octx = off.getContext("2d"), data = octx.createImageData(T, U);
    for (let step = 0; step < t; step++) {
      for (let u = 0; u < U; u++) {
        const v = values[step][u], i = 4 * (u * T + step);
        const rgb = kind === "gate" ? gateColour(v) : stateColour(v / scale);
        data.data[i] = rgb[0]; data.data[i + 1] = rgb[1]; data.data[i + 2] = rgb[2]; data.data[i + 3] = 255;
      }
    }
    octx.putImageData(data, 0, 0);
    const s = sharp(canvas), ctx = s.ctx;
    ctx.imageSmoothingEnabled = T > s.w || U > s.h;
    ctx.drawImage(off, 0, 0, s.w, s.h);
    return scale;
  }

  function stateColour(v) {  // -1 blue, 0 white, +1 red
    const a = Math.min(1, Math.abs(v));
    return v < 0 ? [255 - a * (255 - 33), 255 - a * (255 - 102), 255 - a * (255 - 172)]
      : [255 - a * (255 - 178), 255 - a * (255 - 24), 255 - a * (255 - 43)];
  }

  function gateColour(v) {  // 0 white, 1 deep purple
    const a = Math.min(1, Math.max(0, v));
    return [255 - a * (255 - 75), 255 - a * (255 - 29), 255 - a * (255 - 128)];
  }

  return { reading: reading, order: order, bars: bars, lines: lines, heatmap: heatmap, colour: colour };
})();
