// The drawing canvas: white ink on black (as MNIST's digits), mouse, pen and touch alike (pointer events).
"use strict";
window.rnnDraw = function (canvas, onStroke) {
  const ctx = canvas.getContext("2d");
  let drawing = false;
  let inked = false;
  let last = null;

  function clear() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    inked = false;
  }

  function at(event) {
    const box = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * canvas.width) / box.width,
      y: ((event.clientY - box.top) * canvas.height) / box.height,
    };
  }

  function dot(p) {
    ctx.beginPath();
    ctx.arc(p.x, p.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = true;
    ctx.strokeStyle = ctx.fillStyle = "#fff";
    ctx.lineWidth = canvas.width / 13;
    ctx.lineCap = ctx.lineJoin = "round";
    last = at(event);
    dot(last);
    inked = true;
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) return;
    event.preventDefault();
    const p = at(event);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
  });
  function end(event) {
    if (!drawing) return;
    drawing = false;
    ctx.fillStyle = "#000";
    onStroke();
  }
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  clear();
  return {
    clear: clear,
    inked: function () { return inked; },
    picture: function () { return canvas.toDataURL("image/png"); },
  };
};
