// The software keyboard of the login screen (manual 2.7, R-KBD-1): typing
// the password with the mouse, against key loggers. The key layout is
// shuffled every time it opens, against click-position loggers. Every key
// is a real <button> with a spoken label, so it works by keyboard too: the
// keys are one tab stop (the arrow keys, Home and End move within them),
// so that ［確定］ is a few Tabs away, and while the keyboard is open the
// focus stays inside it (it is a modal dialog). The typed characters live
// only in this closure; the display shows one ● per character. No inline
// script: the CSP forbids it.
"use strict";
(function () {
  const LOWER = "abcdefghijklmnopqrstuvwxyz";
  const DIGITS = "0123456789";
  const SYMBOLS = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  const MAX = 64;

  function shuffled(chars) {
    const a = Array.from(chars);
    const r = new Uint32Array(a.length);
    crypto.getRandomValues(r);
    for (let i = a.length - 1; i > 0; i--) {
      const j = r[i] % (i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }

  function label(c) {
    if (DIGITS.includes(c)) return "数字 " + c;
    if (LOWER.includes(c)) return "英小文字 " + c;
    if (LOWER.toUpperCase().includes(c)) return "英大文字 " + c;
    return "記号 " + c;
  }

  document.addEventListener("DOMContentLoaded", function () {
    const open = document.getElementById("swkb-open");
    const dialog = document.getElementById("swkb");
    const keys = document.getElementById("swkb-keys");
    const display = document.getElementById("swkb-display");
    const shift = document.getElementById("swkb-shift");
    const target = document.getElementById("password");
    if (!open || !dialog || !keys || !display || !shift || !target) return;

    let typed = [];
    let upper = false;
    let layout = [];

    function show() {
      display.textContent = "●".repeat(typed.length);
      display.setAttribute("aria-label", typed.length + "文字入力済み");
    }

    let current = 0;

    function draw() {
      keys.replaceChildren();
      layout.forEach(function (c, i) {
        const ch = upper ? c.toUpperCase() : c;
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = ch;
        b.className = "swkb-key";
        b.dataset.key = ch;
        b.tabIndex = i === current ? 0 : -1;
        b.setAttribute("aria-label", label(ch));
        keys.appendChild(b);
      });
      shift.setAttribute("aria-pressed", upper ? "true" : "false");
    }

    // One tab stop for all keys (a roving tabindex): the arrows move.
    function move(to) {
      const all = keys.querySelectorAll("button");
      if (all.length === 0) return;
      current = (to + all.length) % all.length;
      all.forEach(function (b, i) { b.tabIndex = i === current ? 0 : -1; });
      all[current].focus();
    }

    keys.addEventListener("keydown", function (e) {
      const all = Array.from(keys.querySelectorAll("button"));
      const at = all.indexOf(document.activeElement);
      if (at < 0) return;
      // The grid's own column count (its gaps make width ratios wrong).
      const template = getComputedStyle(keys).gridTemplateColumns;
      const columns = Math.max(1, template.split(" ").filter(Boolean).length);
      const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns }[e.key];
      if (step !== undefined) {
        e.preventDefault();
        move(at + step);
      } else if (e.key === "Home") {
        e.preventDefault();
        move(0);
      } else if (e.key === "End") {
        e.preventDefault();
        move(all.length - 1);
      }
    });

    // The focus stays in the open dialog: Tab from its last control goes
    // to its first, Shift+Tab from its first to its last.
    function focusable() {
      return Array.from(dialog.querySelectorAll("button")).filter(function (b) {
        return b.tabIndex >= 0 && !b.disabled;
      });
    }

    function close() {
      typed = [];
      show();
      dialog.hidden = true;
      open.setAttribute("aria-expanded", "false");
      open.focus();
    }

    open.setAttribute("aria-expanded", "false");
    open.addEventListener("click", function () {
      typed = [];
      upper = false;
      current = 0;
      layout = shuffled(LOWER + DIGITS + SYMBOLS);
      draw();
      show();
      dialog.hidden = false;
      open.setAttribute("aria-expanded", "true");
      const first = keys.querySelector("button");
      if (first) first.focus();
    });

    keys.addEventListener("click", function (e) {
      const b = e.target.closest("button.swkb-key");
      if (!b || typed.length >= MAX) return;
      current = Array.from(keys.querySelectorAll("button")).indexOf(b);
      typed.push(b.dataset.key);
      show();
    });

    shift.addEventListener("click", function () {
      upper = !upper;
      draw();
    });

    document.getElementById("swkb-back").addEventListener("click", function () {
      typed.pop();
      show();
    });

    document.getElementById("swkb-ok").addEventListener("click", function () {
      target.value = typed.join("");
      close();
      target.focus();
    });

    document.getElementById("swkb-cancel").addEventListener("click", close);

    dialog.addEventListener("keydown", function (e) {
      if (e.key === "Escape") {
        e.preventDefault();
        close();
        return;
      }
      if (e.key !== "Tab") return;
      const stops = focusable();
      if (stops.length === 0) return;
      const first = stops[0];
      const last = stops[stops.length - 1];
      if (e.shiftKey && document.activeElement === first) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    });
  });
})();
