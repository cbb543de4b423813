// The playground page: edit a .survae model; the server checks it as you type and this script
// shows the verdicts, diagnostics, tensors, parameters and diagram in place.
//
// No third-party code: the editor is a textarea over a highlighted copy of its text, coloured
// with the TextMate grammar the language server generates (sent by /api/file); the diagram is
// the SVG of `survae-compile --render`, whose nodes carry their source lines as classes
// (`sv-at-L`: the line that wrote the node; `sv-line-L`: every line it comes from).
"use strict";

(() => {
  const TOKEN = document.querySelector('meta[name="survae-token"]').content;
  // A check starts this long after the last keystroke; while one is running, edits wait for
  // it and the next check takes them all (so a fast typist never queues stale checks).
  const DEBOUNCE_MS = 40;
  // The file limit of E501: a larger text is not sent (the server would refuse its body).
  const MAX_SOURCE_BYTES = 1000000;
  const $ = (id) => document.getElementById(id);
  const editor = $("editor");
  const highlight = $("highlight");
  const gutter = $("gutter");
  const lineMark = $("line-mark");
  const diagram = $("diagram");

  let grammar = [];            // compiled patterns of the TextMate grammar
  let lastView = null;         // the last /api/check reply shown
  let timer = null;
  let inFlight = false;        // a check is running ...
  let again = false;           // ... and the text (or a toggle) changed since it was sent
  let shownSvg = null;         // the SVG text in #diagram now
  let shownTables = null;      // the models' JSON behind the tables now
  let savedText = null;
  let canSave = false;
  let selectedLine = 0;
  let zoom = 1;

  // ---- the server -------------------------------------------------------------------------

  function api(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Survae-Token": TOKEN },
      body: JSON.stringify(body || {}),
    });
  }

  async function apiJson(path, body) {
    const response = await api(path, body);
    let data = null;
    try { data = await response.json(); } catch (_) { throw new Error(`the server answered ${response.status}, not JSON`); }
    if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
    return data;
  }

  function setStatus(text, state) {
    $("status").textContent = text;
    document.body.dataset.state = state;
  }

  // ---- highlighting -----------------------------------------------------------------------

  // The grammar's patterns as sticky JavaScript regular expressions, tried in order at each
  // position (TextMate's rule: the first pattern that matches there wins).
  function compileGrammar(tm) {
    const compiled = [];
    for (const p of tm.patterns || []) {
      if (p.match) {
        compiled.push({ re: new RegExp(p.match, "yd"), name: p.name, captures: p.captures });
      } else if (p.begin) {
        compiled.push({ re: new RegExp(p.begin, "y"), end: new RegExp(p.end, "y"), name: p.name,
                        inner: (p.patterns || []).map((q) => new RegExp(q.match, "y")) });
      }
    }
    return compiled;
  }

  function scopeClass(name) {
    if (!name) return "";
    const parts = name.split(".").filter((s) => s !== "survae");
    // The first two or three words name the colour: comment, support.function.op, ...
    const depth = parts[0] === "comment" || parts[0] === "string" ? 1 : Math.min(parts.length, 3);
    let cls = "tm-" + parts.slice(0, depth).join("-");
    if (parts[0] === "constant" || parts[0] === "keyword" || parts[0] === "variable" || parts[0] === "entity") {
      cls = "tm-" + parts.slice(0, 2).join("-");
    }
    return cls;
  }

  // Per character of `line`: the class of its token ("" for plain text).
  function tokenClasses(line) {
    const classes = new Array(line.length).fill("");
    const paint = (from, to, cls) => { for (let i = from; i < to; i++) classes[i] = cls; };
    let pos = 0;
    while (pos < line.length) {
      let advanced = false;
      for (const p of grammar) {
        p.re.lastIndex = pos;
        const m = p.re.exec(line);
        if (!m || m[0].length === 0) continue;
        let end = pos + m[0].length;
        if (p.end) {                       // a begin/end region: a string up to its closing quote
          // One step per character: an escape (skipped whole), the end, or a plain character.
          let search = end;
          for (;;) {
            const escape = p.inner.find((q) => { q.lastIndex = search; return q.test(line) && q.lastIndex > search; });
            if (escape) { search = escape.lastIndex; continue; }
            p.end.lastIndex = search;
            if (p.end.test(line)) { search = Math.max(p.end.lastIndex, search); break; }
            if (search >= line.length) break;
            search += 1;
          }
          end = Math.min(search, line.length);
          paint(pos, end, scopeClass(p.name));
        } else if (p.captures) {
          for (const [group, capture] of Object.entries(p.captures)) {
            const span = m.indices[Number(group)];
            if (span) paint(span[0], span[1], scopeClass(capture.name));
          }
        } else {
          paint(pos, end, scopeClass(p.name));
        }
        pos = end;
        advanced = true;
        break;
      }
      if (!advanced) {
        // Plain text: skip the rest of a word, so that a pattern never starts mid-word.
        const word = /[A-Za-z0-9_]+/y;
        word.lastIndex = pos;
        pos = word.test(line) ? word.lastIndex : pos + 1;
      }
    }
    return classes;
  }

  function escapeHtml(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // The checker counts columns in code points (from 1); a JavaScript string index counts UTF-16
  // units, two for a character beyond the BMP (an emoji): the string index of `column` in `line`.
  function unitIndex(line, column) {
    let index = 0;
    for (let c = 1; c < column && index < line.length; c++) {
      index += line.codePointAt(index) > 0xffff ? 2 : 1;
    }
    return index + Math.max(0, column - 1 - Array.from(line).length);
  }

  // The highlighted copy of the text, with the diagnostics' ranges underlined.
  function paintText() {
    const text = editor.value;
    const lines = text.split("\n");
    const squiggles = lines.map(() => null);
    for (const d of (lastView && lastView.diagnostics) || []) {
      const p = d.position;
      for (let l = Math.max(1, p.line); l <= p.end_line && l <= lines.length; l++) {
        const text = lines[l - 1];
        const row = squiggles[l - 1] || (squiggles[l - 1] = new Array(text.length + 1).fill(""));
        const from = l === p.line ? unitIndex(text, p.column) : 0;
        let to = l === p.end_line ? unitIndex(text, p.end_column) : text.length;
        if (to <= from) to = from + 1;    // a point: underline one character
        for (let i = Math.max(0, from); i < Math.min(to, row.length); i++) {
          if (row[i] !== "sq-error") row[i] = d.severity === "error" ? "sq-error" : "sq-warning";
        }
      }
    }
    const html = lines.map((line, index) => {
      const classes = tokenClasses(line);
      const marks = squiggles[index];
      let out = "";
      let start = 0;
      const key = (i) => classes[i] + "|" + (marks ? marks[i] : "");
      for (let i = 1; i <= line.length; i++) {
        if (i === line.length || key(i) !== key(start)) {
          const cls = [classes[start], marks ? marks[start] : ""].filter(Boolean).join(" ");
          const piece = escapeHtml(line.slice(start, i));
          out += cls ? `<span class="${cls}">${piece}</span>` : piece;
          start = i;
        }
      }
      if (marks && marks[line.length]) out += `<span class="${marks[line.length]}"> </span>`;
      return out;
    });
    highlight.innerHTML = html.join("\n") + "\n";
    gutter.innerHTML = lines.map((_, i) => `<span${i + 1 === selectedLine ? ' class="sel"' : ""}>${i + 1}</span>`).join("\n") + "\n";
    syncScroll();
  }

  function syncScroll() {
    highlight.scrollTop = editor.scrollTop;
    highlight.scrollLeft = editor.scrollLeft;
    gutter.scrollTop = editor.scrollTop;
    placeLineMark();
  }

  // ---- lines and nodes --------------------------------------------------------------------

  function lineHeight() {
    return parseFloat(getComputedStyle(editor).lineHeight) || 19;
  }

  function caretLine() {
    return editor.value.slice(0, editor.selectionStart).split("\n").length;
  }

  function placeLineMark() {
    if (!selectedLine) { lineMark.style.display = "none"; return; }
    const padding = parseFloat(getComputedStyle(editor).paddingTop) || 0;
    lineMark.style.display = "block";
    lineMark.style.top = `${padding + (selectedLine - 1) * lineHeight() - editor.scrollTop}px`;
  }

  // Select line `line` of the text (from a click on a node, a diagnostic or a table row).
  function selectLine(line) {
    const lines = editor.value.split("\n");
    if (line < 1 || line > lines.length) return;
    let start = 0;
    for (let i = 0; i < line - 1; i++) start += lines[i].length + 1;
    editor.focus({ preventScroll: true });
    editor.setSelectionRange(start, start + lines[line - 1].length);
    const top = (line - 1) * lineHeight();
    if (top < editor.scrollTop || top > editor.scrollTop + editor.clientHeight - 2 * lineHeight()) {
      editor.scrollTop = Math.max(0, top - editor.clientHeight / 3);
    }
    markLine(line, false);
  }

  // Show `line` as the current one: its mark in the editor, its nodes and table rows.
  function markLine(line, scrollDiagram) {
    selectedLine = line;
    editor.dataset.selectedLine = String(line);
    for (const span of gutter.querySelectorAll("span.sel")) span.classList.remove("sel");
    const number = gutter.children[line - 1];
    if (number) number.classList.add("sel");
    placeLineMark();
    let first = null;
    for (const node of diagram.querySelectorAll("g.sv-node")) {
      const on = node.classList.contains(`sv-line-${line}`);
      node.classList.toggle("selected", on);
      if (on && !first) first = node;
    }
    for (const row of document.querySelectorAll("tr[data-line]")) {
      row.classList.toggle("selected", row.dataset.line === String(line));
    }
    if (first && scrollDiagram) first.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function onCaret() {
    const line = caretLine();
    if (line !== selectedLine) markLine(line, true);
  }

  // ---- showing a check --------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) node.append(child);
    return node;
  }

  const number = (n) => (n === null || n === undefined ? "unknown" : n.toLocaleString("en-US"));

  function showVerdicts(view) {
    const box = $("verdicts");
    box.replaceChildren();
    if (!view.models.length) {
      const errors = view.diagnostics.filter((d) => d.severity === "error").length;
      box.append(el("p", { class: "no-verdict" }, errors ? "No verdict: fix the errors first." : "No model yet."));
      return;
    }
    for (const m of view.models) {
      const words = m.likelihood === "exact" ? "exact log-likelihood" : "lower bound";
      const card = el("div", { class: `verdict ${m.likelihood}`, "data-model": m.name },
        el("span", { class: "name" }, m.name), el("span", { class: "class" }, words),
        el("span", { class: "count" }, `${number(m.parameters)} parameters`));
      if (m.reasons.length) {
        const list = el("ul");
        for (const r of m.reasons) {
          const item = el("li", { "data-line": String(r.line) }, r.message);
          item.addEventListener("click", () => selectLine(r.line));
          list.append(item);
        }
        card.append(list);
      }
      box.append(card);
    }
  }

  function showDiagnostics(view) {
    const list = $("diagnostics");
    list.replaceChildren();
    const errors = view.diagnostics.filter((d) => d.severity === "error").length;
    const warnings = view.diagnostics.length - errors;
    $("diagnostic-count").textContent = view.diagnostics.length ? `(${errors} errors, ${warnings} warnings)` : "";
    if (!view.diagnostics.length) list.append(el("li", { class: "none" }, "None."));
    for (const d of view.diagnostics) {
      const p = d.position;
      const item = el("li", { class: `diagnostic ${d.severity}`, "data-code": d.code, "data-line": String(p.line) },
        el("span", { class: "code" }, d.code), el("span", { class: "where" }, `line ${p.line}:${p.column}`),
        el("span", { class: "message" }, d.message));
      if (d.hint) item.append(el("span", { class: "hint" }, `hint: ${d.hint}`));
      if (d.explain) item.append(el("details", {}, el("summary", {}, "explain"), el("pre", {}, d.explain)));
      item.addEventListener("click", (event) => {
        if (!event.target.closest("details")) selectLine(p.line);
      });
      list.append(item);
    }
  }

  function table(caption, heads, rows) {
    const body = el("tbody");
    for (const row of rows) {
      const tr = el("tr", row.line ? { "data-line": String(row.line) } : {});
      row.cells.forEach((cell, i) => tr.append(el("td", heads[i].num ? { class: "num" } : {}, cell)));
      if (row.line) tr.addEventListener("click", () => selectLine(row.line));
      body.append(tr);
    }
    const head = el("tr");
    for (const h of heads) head.append(el("th", {}, h.title));
    return el("table", {}, el("caption", {}, caption), el("thead", {}, head), body);
  }

  function showTables(view) {
    const key = JSON.stringify(view.models);
    if (key === shownTables) return;   // a keystroke in a comment: the tables stand
    shownTables = key;
    const tensors = $("tensors");
    const params = $("params");
    tensors.replaceChildren();
    params.replaceChildren();
    for (const m of view.models) {
      tensors.append(table(m.name, [{ title: "tensor" }, { title: "line", num: true }, { title: "type" },
        { title: "fills" }, { title: "fold" }], m.tensors.map((t) => ({
        line: t.line,
        cells: [t.role === "tensor" ? t.id : `${t.name} (${t.role})`, String(t.line), `${t.domain}[${t.shape.join(", ")}]`,
          t.fills ? "yes" : "no", t.fold ? `${t.fold.region} (from ${t.fold.surjection}, line ${t.fold.line})` : "–"],
      }))));
      const rows = m.layers.map((l) => ({ line: l.line, cells: [l.name, l.op, String(l.line), number(l.parameters)] }));
      rows.push({ line: 0, cells: ["total", "", "", number(m.parameters)] });
      params.append(table(m.name, [{ title: "layer" }, { title: "op" }, { title: "line", num: true },
        { title: "parameters", num: true }], rows));
    }
  }

  function showDiagram(view) {
    const scroll = [diagram.scrollTop, diagram.scrollLeft];
    if (view.svg && view.svg === shownSvg) {
      // The same graph (the server drew it once): keep the drawing and its selection.
    } else if (view.svg) {
      // Graphviz's own SVG (labels escaped by it); the page's policy runs no script in it.
      // Without Graphviz's comments and <title>s (its ids: no help as tooltips here), the
      // browser builds a third fewer elements for a large diagram.
      diagram.innerHTML = view.svg.slice(view.svg.indexOf("<svg"))
        .replace(/<!--[^]*?-->\n?/g, "").replace(/<title>[^<]*<\/title>\n?/g, "");
      shownSvg = view.svg;
      const svg = diagram.querySelector("svg");
      svg.dataset.width = parseFloat(svg.getAttribute("width"));
      svg.dataset.height = parseFloat(svg.getAttribute("height"));
      applyZoom();
    } else {
      shownSvg = null;
      const message = view.svg_error || (view.models.length ? "" : "The diagram appears when the file has a model without errors.");
      diagram.replaceChildren(el("div", { class: "message" }, message));
    }
    [diagram.scrollTop, diagram.scrollLeft] = scroll;
    diagram.dataset.revision = String(Number(diagram.dataset.revision) + 1);
  }

  function applyZoom() {
    const svg = diagram.querySelector("svg");
    if (!svg) return;
    svg.setAttribute("width", `${svg.dataset.width * zoom}pt`);
    svg.setAttribute("height", `${svg.dataset.height * zoom}pt`);
  }

  function show(view) {
    lastView = view;
    showVerdicts(view);
    showDiagnostics(view);
    showTables(view);
    showDiagram(view);
    paintText();
    if (selectedLine) markLine(selectedLine, false);
    const errors = view.diagnostics.filter((d) => d.severity === "error").length;
    setStatus(errors ? `${errors} error${errors === 1 ? "" : "s"}` : "up to date", errors ? "error" : "idle");
  }

  // ---- checking as you type ---------------------------------------------------------------

  async function check() {
    if (inFlight) { again = true; return; }
    const size = new TextEncoder().encode(editor.value).length;
    if (size > MAX_SOURCE_BYTES) {
      setStatus(`E501: the text is ${size.toLocaleString("en-US")} bytes, over the limit of ` +
                `${MAX_SOURCE_BYTES.toLocaleString("en-US")}; split it`, "error");
      return;
    }
    inFlight = true;
    again = false;
    setStatus("checking…", "busy");
    try {
      const view = await apiJson("/api/check", {
        text: editor.value, collapse: $("collapse").checked, direction: $("direction").value,
      });
      if (!again) show(view);          // unless the text changed meanwhile: then the next one
    } catch (error) {
      setStatus(`cannot check: ${error.message}`, "error");
    } finally {
      inFlight = false;
      if (again) check();
    }
  }

  function scheduleCheck() {
    clearTimeout(timer);
    timer = setTimeout(check, DEBOUNCE_MS);
  }

  function onInput() {
    paintText();                       // colours now; the check follows when typing pauses
    $("dirty").hidden = editor.value === savedText;
    scheduleCheck();
  }

  // Tab indents by four spaces; Enter keeps the line's indentation; Ctrl+S saves.
  function onKey(event) {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save();
    } else if (event.key === "Tab" && !event.ctrlKey && !event.altKey) {
      event.preventDefault();
      document.execCommand("insertText", false, "    ");
    } else if (event.key === "Enter" && !event.ctrlKey && !event.altKey && !event.metaKey) {
      const before = editor.value.slice(0, editor.selectionStart);
      const current = before.slice(before.lastIndexOf("\n") + 1);
      const indent = current.match(/^[ \t]*/)[0];
      const opens = /\{[ \t]*$/.test(current) ? "    " : "";
      if (indent || opens) {
        event.preventDefault();
        document.execCommand("insertText", false, "\n" + indent + opens);
      }
    }
  }

  // ---- saving and downloads ---------------------------------------------------------------

  async function save() {
    if (!canSave) return;
    const text = editor.value;
    try {
      const reply = await apiJson("/api/save", { text });
      savedText = text;
      $("dirty").hidden = editor.value === savedText;
      setStatus(`saved ${reply.saved}`, document.body.dataset.state === "error" ? "error" : "idle");
    } catch (error) {
      setStatus(`not saved: ${error.message}`, "error");
    }
  }

  async function download(what) {
    let response;
    try {
      response = await api("/api/download", {
        text: editor.value, what, collapse: $("collapse").checked, direction: $("direction").value,
      });
    } catch (error) {
      setStatus(`no download: ${error.message}`, "error");
      return;
    }
    if (!response.ok) {
      let message = `the server answered ${response.status}`;
      try { message = (await response.json()).error || message; } catch (_) { /* keep the status */ }
      setStatus(`no download: ${message}`, "error");
      return;
    }
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = (disposition.match(/filename="([^"]+)"/) || [null, "download"])[1];
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- start ------------------------------------------------------------------------------

  async function start() {
    try {
      const file = await apiJson("/api/file");
      grammar = compileGrammar(file.grammar);
      canSave = file.can_save;
      savedText = file.text;
      $("file-name").textContent = file.name;
      document.title = `${file.name} – survae playground`;
      const saveButton = $("save");
      saveButton.disabled = !canSave;
      if (!canSave) saveButton.title = "started without a file: nothing to save to (use the downloads)";
      editor.value = file.text;
      paintText();
      await check();
    } catch (error) {
      setStatus(`cannot start: ${error.message}`, "error");
    }
  }

  editor.addEventListener("input", onInput);
  editor.addEventListener("scroll", syncScroll);
  editor.addEventListener("keydown", onKey);
  for (const event of ["keyup", "click", "select"]) editor.addEventListener(event, onCaret);
  $("collapse").addEventListener("change", check);
  $("direction").addEventListener("change", check);
  $("save").addEventListener("click", save);
  for (const id of ["download-py", "download-standalone", "download-svg"]) {
    $(id).addEventListener("click", () => download($(id).dataset.what));
  }
  // One listener for every node: a click on a node selects the line that wrote it.
  diagram.addEventListener("click", (event) => {
    const node = event.target.closest("g.sv-node");
    const at = node && [...node.classList].find((c) => c.startsWith("sv-at-"));
    if (at) selectLine(Number(at.slice(6)));
  });
  $("zoom-in").addEventListener("click", () => { zoom *= 1.25; applyZoom(); });
  $("zoom-out").addEventListener("click", () => { zoom /= 1.25; applyZoom(); });
  $("zoom-fit").addEventListener("click", () => {
    const svg = diagram.querySelector("svg");
    if (!svg) return;
    zoom = Math.min(4, (diagram.clientWidth - 4) / (svg.dataset.width * 4 / 3));   // pt → px
    applyZoom();
  });
  // Changes not saved (or, without a file, any change: it cannot be saved) are lost on closing.
  window.addEventListener("beforeunload", (event) => {
    if (savedText !== null && editor.value !== savedText) event.preventDefault();
  });
  start();
})();
