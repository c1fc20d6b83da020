/* The web chat, progressively enhanced: ask the JSON API, draw each answer without a page reload, keep the
   conversation for this browser session (sessionStorage), send 👍/👎 feedback. Every piece of text from the
   corpus or the user goes into the page as text nodes (textContent), never as HTML. */
"use strict";
(() => {
  const form = document.getElementById("ask");
  const box = document.getElementById("question");
  const conversation = document.getElementById("conversation");
  if (!form || !box || !conversation) return;
  const busy = document.getElementById("busy");
  const errorBox = document.getElementById("error");
  const send = document.getElementById("send");
  const STORE = "bot.conversation";
  const MAX_TURNS = 30;
  const DECLINE = "I could not find this in the sources I have. Try rephrasing the question.";
  // No maxlength on the box: a browser would cut a pasted question to the limit without a word, and the cut
  // question would be sent. The whole text stays in the box and this says how much is over.
  const maxChars = Number(box.dataset.maxChars) || 0;
  const tooLong = document.getElementById("too-long");
  let counter = 0;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const sourceUrl = (docId) => "/source/" + encodeURIComponent(docId);
  // An optional label from the answer (a quote's section, a reference's source, locator or date): "" when absent.
  const label = (value) => (typeof value === "string" ? value.trim() : "");
  const webUrl = (url) => (typeof url === "string" && /^https?:\/\//i.test(url) ? url : null);

  function renderAnswer(answer) {
    const aid = "j" + ++counter;
    const answered = Boolean(answer.answered && answer.sections && answer.sections.length);
    const article = el("article", {
      class: answered ? "answer" : "answer declined",
      "data-answered": String(answered),
    });
    if (!answered) {
      article.append(el("p", { class: "decline" }, answer.message || DECLINE));
      return article;
    }
    for (const section of answer.sections) {
      const list = el("ul");
      for (const b of section.bullets) {
        const item = el("li", {},
          el("a", { class: "quote", href: `${sourceUrl(b.doc_id)}?start=${b.start}&end=${b.end}#quote`,
                    title: "Show this passage in its source" }, el("q", {}, b.quote)));
        for (const n of b.citations) {
          item.append(" ", el("a", { class: "cite", href: `#ref-${aid}-${n}`, "aria-label": `Reference ${n}` }, `[${n}]`));
        }
        const where = label(b.section);
        if (where) item.append(" ", el("span", { class: "section" }, where));
        list.append(item);
      }
      article.append(el("section", { class: "kind-" + section.kind }, el("h3", {}, section.heading), list));
    }
    const refs = el("ol");
    for (const r of answer.references) {
      const item = el("li", { id: `ref-${aid}-${r.n}`, value: r.n, tabindex: "-1" },
        el("a", { href: sourceUrl(r.doc_id) }, r.title));
      const details = [r.source, r.locator, r.date].map(label).filter(Boolean).join(", ");
      if (details) item.append(" — ", el("span", { class: "ref-details" }, details));
      item.append(" ", el("span", { class: "kind" }, `(${String(r.kind).replace(/_/g, " ")})`));
      const url = webUrl(r.url);
      if (url) item.append(" ", el("a", { class: "external", href: url, rel: "noopener noreferrer" }, url));
      else if (r.url) item.append(" ", el("span", { class: "external" }, r.url));
      refs.append(item);
    }
    article.append(el("section", { class: "references" }, el("h3", {}, "References"), refs));
    return article;
  }

  function feedbackForm(answer) {
    return el("form", { class: "feedback", method: "post", action: "/feedback" },
      el("input", { type: "hidden", name: "question", value: answer.question }),
      el("input", { type: "hidden", name: "answer", value: JSON.stringify(answer) }),
      el("span", { class: "feedback-label" }, "Was this answer useful?"),
      el("button", { type: "submit", class: "up", name: "rating", value: "1", "aria-label": "Useful", title: "Useful 👍" }),
      el("button", { type: "submit", class: "down", name: "rating", value: "-1", "aria-label": "Not useful",
                     title: "Not useful 👎" }),
      el("span", { class: "feedback-status", role: "status" }));
  }

  function appendTurn(answer, scroll) {
    const intro = document.getElementById("intro");
    if (intro) intro.remove();
    const turn = el("div", { class: "turn" },
      el("p", { class: "asked" }, el("span", { class: "visually-hidden" }, "You asked: "), answer.question),
      renderAnswer(answer), feedbackForm(answer));
    conversation.append(turn);
    if (scroll) turn.scrollIntoView({ block: "start" });
    return turn;
  }

  function remembered() {
    try {
      const turns = JSON.parse(sessionStorage.getItem(STORE) || "[]");
      return Array.isArray(turns) ? turns : [];
    } catch (err) {
      return [];
    }
  }
  function remember(answer) {
    try {
      sessionStorage.setItem(STORE, JSON.stringify([...remembered(), answer].slice(-MAX_TURNS)));
    } catch (err) {
      /* storage full or disabled: the page still works, only without history across pages */
    }
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }
  function clearError() {
    errorBox.textContent = "";
    errorBox.hidden = true;
  }
  function setBusy(on) {
    busy.hidden = !on;
    send.disabled = on;
    form.setAttribute("aria-busy", String(on));
    conversation.setAttribute("aria-busy", String(on));
  }
  function problem(status, data) {
    const detail = data && data.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail) && detail.length && detail[0].msg) return detail[0].msg;
    if (status === 413) return "The question is too large to send.";
    if (status === 429) return "Too many questions at once; wait a moment and try again.";
    if (status === 503) return "The bot is loading its index; try again shortly.";
    return `Something went wrong (HTTP ${status}); please try again.`;
  }

  // Characters as the server counts them (code points, not UTF-16 units), after trimming as on sending.
  const length = (text) => [...text.trim()].length;
  function lengthProblem() {
    const n = length(box.value);
    if (!maxChars || n <= maxChars) return "";
    const fmt = (v) => v.toLocaleString("en-US");
    return `Your question is ${fmt(n)} characters long; the limit is ${fmt(maxChars)}. ` +
      `Shorten it by ${fmt(n - maxChars)} characters to send it.`;
  }
  function checkLength() {
    const message = lengthProblem();
    if (tooLong) {
      tooLong.textContent = message;
      tooLong.hidden = !message;
    }
    if (message) box.setAttribute("aria-invalid", "true");
    else box.removeAttribute("aria-invalid");
    return message;
  }
  box.addEventListener("input", checkLength);

  function kindsChosen() {
    const all = [...form.querySelectorAll('input[name="kinds"]')];
    const chosen = all.filter((b) => b.checked).map((b) => b.value);
    return { all: all.length, chosen };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = box.value.trim();
    if (!question) {
      showError("Type a question first.");
      box.focus();
      return;
    }
    if (checkLength()) {  // never send a cut question; the message under the box says how much is over
      box.focus();
      return;
    }
    const kinds = kindsChosen();
    if (kinds.all && !kinds.chosen.length) {
      showError("Tick at least one kind of source to quote from.");
      return;
    }
    const body = { question };
    if (kinds.chosen.length < kinds.all) body.kinds = kinds.chosen;
    clearError();
    setBusy(true);
    try {
      const response = await fetch("/api/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      let data = null;
      try {
        data = await response.json();
      } catch (err) {
        data = null;
      }
      if (!response.ok || !data) {
        showError(problem(response.status, data));
        return;
      }
      appendTurn(data, true);
      remember(data);
      box.value = "";
      refreshFacts();
    } catch (err) {
      showError("The bot could not be reached. Check the connection and try again.");
    } finally {
      setBusy(false);
      box.focus({ preventScroll: true });
    }
  });

  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.addEventListener("submit", async (event) => {
    const vote = event.target instanceof HTMLFormElement && event.target.matches("form.feedback") ? event.target : null;
    if (!vote) return;
    event.preventDefault();
    const button = event.submitter;
    const status = vote.querySelector(".feedback-status");
    const buttons = [...vote.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    try {
      const response = await fetch("/api/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({
          rating: Number(button ? button.value : 1),
          question: vote.elements.namedItem("question").value,
          answer: JSON.parse(vote.elements.namedItem("answer").value),
        }),
      });
      if (!response.ok) throw new Error(String(response.status));
      if (button) button.setAttribute("aria-pressed", "true");
      status.textContent = "Thanks, your feedback was stored.";
    } catch (err) {
      buttons.forEach((b) => (b.disabled = false));
      status.textContent = "The feedback could not be stored; please try again.";
    }
  });

  conversation.addEventListener("click", (event) => {
    const cite = event.target instanceof Element ? event.target.closest("a.cite") : null;
    if (!cite) return;
    const target = document.getElementById(cite.getAttribute("href").slice(1));
    if (target) setTimeout(() => target.focus({ preventScroll: true }), 0);
  });

  function showFacts(h) {
    const facts = document.getElementById("facts");
    if (!facts || !h || !h.ready) return;
    const built = typeof h.built_at === "string" ? h.built_at : "";
    const moment = new Date(built);
    const shown = Number.isNaN(moment.getTime())
      ? built
      : moment.toISOString().slice(0, 16).replace("T", " ") + " UTC";
    facts.replaceChildren(
      el("span", { "data-fact": "documents" }, h.documents), h.documents === 1 ? " document · " : " documents · ",
      el("span", { "data-fact": "chunks" }, h.chunks), h.chunks === 1 ? " chunk · built " : " chunks · built ",
      el("time", { "data-fact": "built_at", datetime: built }, shown), " · model ",
      el("span", { "data-fact": "model" }, h.model));
  }
  async function refreshFacts() {
    try {
      const response = await fetch("/healthz", { headers: { Accept: "application/json" } });
      showFacts(await response.json());
    } catch (err) {
      /* the header keeps what the server rendered */
    }
  }

  for (const hint of document.querySelectorAll(".js-only")) hint.hidden = false;
  checkLength();  // a question given back by the server (or the browser's form restore) may already be too long
  if (!conversation.querySelector(".turn")) {
    for (const answer of remembered()) appendTurn(answer, false);
    const last = conversation.lastElementChild;
    if (last && last.classList.contains("turn")) last.scrollIntoView({ block: "end" });
  }
  refreshFacts();
})();
