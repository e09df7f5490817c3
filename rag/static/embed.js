// The embeddable chat page: asks /api/ask with streaming and renders the
// answer with clickable citations. Everything the model writes is inserted as
// text (never as markup), so an answer cannot add links, images or scripts.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const conv = document.getElementById("conv");
  const form = document.getElementById("ask-form");
  const input = document.getElementById("question");
  const button = document.getElementById("ask");
  const history = [];
  let turn = 0;

  const arabic = /[\u0600-\u06FF]/g;
  const latin = /[A-Za-z]/g;
  function dir(text) {
    const a = (text.match(arabic) || []).length, l = (text.match(latin) || []).length;
    return a > l ? "rtl" : "ltr";
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function message(cls, text) {
    const m = el("div", "msg " + cls, text);
    m.dir = dir(text || "");
    conv.appendChild(m);
    conv.scrollTop = conv.scrollHeight;
    return m;
  }

  // The sentence an answer comes from, its phrase marked once the answer is known.
  function quoteBlock(q) {
    const b = el("blockquote", "quote");
    b.dir = "auto";
    b.appendChild(document.createTextNode("«"));
    if (q.phrase_start !== null && q.phrase_start !== undefined) {
      b.appendChild(document.createTextNode(q.text.slice(0, q.phrase_start)));
      b.appendChild(el("mark", "phrase", q.text.slice(q.phrase_start, q.phrase_end)));
      b.appendChild(document.createTextNode(q.text.slice(q.phrase_end)));
    } else {
      b.appendChild(document.createTextNode(q.text));
    }
    b.appendChild(document.createTextNode("»"));
    const src = el("span", "source", q.title + (q.date ? " · " + q.date : ""));
    src.dir = "auto";
    b.appendChild(src);
    return b;
  }

  function renderAnswer(box, answer, id) {
    box.textContent = "";
    box.dir = dir(answer.answer);
    box.dataset.lang = answer.language;
    if (answer.refused) box.classList.add("refused");
    if (answer.quote && !answer.refused) box.appendChild(quoteBlock(answer.quote));
    const text = el("span", answer.quote ? "answer" : "");
    box.appendChild(text);
    if (!answer.refused && answer.doubt !== null && answer.doubt !== undefined && answer.doubt >= 0.5) {  // thin evidence: the reader checks the quote
      box.appendChild(el("div", "thin", "Thin evidence: the quote may not answer this · الأدلة ضعيفة"));
    }
    if (answer.refused && answer.quote) {  // the closest the articles come, for the reader to judge by
      box.appendChild(el("div", "closest", "Closest · الأقرب"));
      box.appendChild(quoteBlock(answer.quote));
    }
    const cited = new Map(answer.citations.map((c) => [c.n, c]));
    const parts = answer.answer.split(/(\[\d{1,3}\])/);
    for (const part of parts) {
      const m = /^\[(\d{1,3})\]$/.exec(part);
      if (!m) { text.appendChild(document.createTextNode(part)); continue; }
      const c = cited.get(Number(m[1]));
      if (!c) continue;
      const a = el("a", c.supported ? "cite" : "cite unverified", part);
      a.href = "#p-" + id + "-" + c.n;
      if (!c.supported) a.title = "not verified against the passage";
      text.appendChild(a);
    }
    if (!answer.citations.length) return;
    const sources = el("div", "sources");
    for (const c of answer.citations) {
      const d = el("details", c.supported ? "" : "unverified");
      d.id = "p-" + id + "-" + c.n;
      const s = el("summary", "", "[" + c.n + "] " + c.title + (c.supported ? "" : " ⚠ not verified"));
      s.dir = "auto";
      const p = el("div", "passage");
      p.dir = "rtl";
      p.appendChild(document.createTextNode(c.text.slice(0, c.start)));
      p.appendChild(el("mark", "", c.text.slice(c.start, c.end)));
      p.appendChild(document.createTextNode(c.text.slice(c.end)));
      d.append(s, p);
      sources.appendChild(d);
    }
    box.appendChild(sources);
  }

  conv.addEventListener("click", function (e) {
    const a = e.target.closest("a.cite");
    if (!a) return;
    e.preventDefault();
    const d = document.getElementById(a.getAttribute("href").slice(1));
    if (d) { d.open = true; d.scrollIntoView({ block: "nearest" }); }
  });

  async function ask(question) {
    const id = turn++;
    message("user", question);
    const box = message("bot", "");
    box.appendChild(el("span", "status", "Searching the articles… · جارٍ البحث…"));
    const headers = { "Content-Type": "application/json", "Accept": "text/event-stream" };
    if (token) headers["Authorization"] = "Bearer " + token;
    let answer = null, partial = "", quote = null;
    const answerText = el("span", "answer");
    try {
      const r = await fetch("api/ask", { method: "POST", headers, body: JSON.stringify({ question, history, stream: true }) });
      if (!r.ok) {
        let msg = "Error " + r.status;
        try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
        throw new Error(msg);
      }
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          const payload = data ? JSON.parse(data) : {};
          if (event === "quote") {
            // the sentence the answer will come from, shown before the model runs
            quote = payload;
            box.textContent = "";
            box.dir = dir(quote.text);
            box.append(quoteBlock(quote), el("span", "status", "Finding the answer in it… · جارٍ استخراج الإجابة…"));
          } else if (event === "passages" && quote) {
            // the quote already says where the answer comes from
          } else if (event === "passages") {
            // the model's turn has come: show what it reads while the prompt is evaluated
            box.textContent = "";
            box.appendChild(el("span", "status", "Reading the passages… · جارٍ قراءة المقاطع…"));
            const reading = el("div", "reading", "");
            const seen = new Set();
            for (const p of payload.passages) {
              const line = p.title + (p.date ? " · " + p.date : "");
              if (seen.has(line)) continue;
              seen.add(line);
              const item = el("div", "", line);
              item.dir = "auto";
              reading.appendChild(item);
            }
            box.appendChild(reading);
          } else if (event === "token") {
            partial += payload.text;
            if (quote) {
              if (!answerText.parentNode) { box.textContent = ""; box.append(quoteBlock(quote), answerText); }
              answerText.textContent = partial;
            } else {
              box.textContent = partial;
              box.dir = dir(partial);
            }
          } else if (event === "answer") {
            answer = payload;
            renderAnswer(box, answer, id);
          } else if (event === "error") {
            throw new Error(payload.error);
          }
        }
      }
      if (!answer) throw new Error("The answer ended early.");
      history.push({ role: "user", content: question }, { role: "assistant", content: answer.answer });
    } catch (err) {
      box.textContent = String(err.message || err);
      box.dir = "auto";
      box.classList.add("error");
    }
    conv.scrollTop = conv.scrollHeight;
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    const q = input.value.trim();
    if (!q || button.disabled) return;
    input.value = "";
    button.disabled = true;
    try { await ask(q); } finally { button.disabled = false; input.focus(); }
  });
  input.addEventListener("input", function () { input.dir = dir(input.value); });
})();
