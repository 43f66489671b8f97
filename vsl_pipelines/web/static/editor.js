// The script editor's care for what is typed: a draft kept in this browser (localStorage) and
// offered back when the editor opens again, a warning before leaving with unsaved changes, and
// the keyboard focus put back on the equivalent control after htmx redraws the editor (a
// section added, moved or removed, a model or what to generate changed). Without it the
// editor works the same, only without these.
"use strict";
(() => {
  const SKIPPED = new Set(["csrf", "base", "op"]);
  let dirty = false;
  let leaving = false;
  let pending = null; // what the redraw in flight was asked for, and where the focus was
  let saveTimer = null;

  const editor = () => document.getElementById("editor");

  function fieldsOf(form) {
    return [...new FormData(form).entries()].filter(
      ([name, value]) => !SKIPPED.has(name) && typeof value === "string"
    );
  }

  function saveDraft() {
    const form = editor();
    if (!form || !form.dataset.draftKey) return;
    try {
      localStorage.setItem(
        form.dataset.draftKey,
        JSON.stringify({ saved: Date.now(), fields: fieldsOf(form) })
      );
    } catch (error) {
      // Storage full or refused (private browsing): the draft is simply not kept.
    }
  }

  function readDraft(form) {
    try {
      const draft = JSON.parse(localStorage.getItem(form.dataset.draftKey) || "null");
      return draft && Array.isArray(draft.fields) ? draft : null;
    } catch (error) {
      return null;
    }
  }

  function forgetDraft(form) {
    try {
      localStorage.removeItem(form.dataset.draftKey);
    } catch (error) {
      // nothing kept, nothing to forget
    }
  }

  function changed(event) {
    const form = editor();
    if (!form || !form.contains(event.target) || !event.isTrusted) return;
    dirty = true;
    leaving = false;
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveDraft, 400);
  }

  function announce(text) {
    const status = document.getElementById("editor-status");
    if (status) status.textContent = text;
  }

  // The draft, offered back when it differs from what the editor shows.
  function offerDraft() {
    const form = editor();
    const notice = document.getElementById("draft-notice");
    if (!form || !notice) return;
    if (form.closest("main").querySelector(".error[role=alert]")) {
      // A refused post: what is shown is the person's own unsaved work.
      dirty = true;
      saveDraft();
      return;
    }
    const draft = readDraft(form);
    if (!draft || JSON.stringify(draft.fields) === JSON.stringify(fieldsOf(form))) return;
    notice.querySelector("[data-draft-time]").textContent = new Date(draft.saved).toLocaleString();
    notice.hidden = false;
  }

  async function restoreDraft() {
    const form = editor();
    const notice = document.getElementById("draft-notice");
    const draft = form && readDraft(form);
    if (!draft) return;
    const body = new URLSearchParams(draft.fields);
    for (const name of ["csrf", "base"]) {
      const input = form.querySelector(`input[name=${name}]`);
      if (input) body.set(name, input.value);
    }
    body.set("op", "refresh");
    const answer = await fetch(form.action, { method: "POST", body, credentials: "same-origin" });
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    const restored = page.getElementById("editor");
    if (!restored) return;
    form.replaceWith(restored);
    const estimate = page.getElementById("estimate");
    if (estimate && document.getElementById("estimate")) {
      document.getElementById("estimate").replaceWith(estimate);
    }
    if (window.htmx) window.htmx.process(restored);
    notice.hidden = true;
    dirty = true;
    announce("The draft is back in the editor.");
    document.getElementById("title")?.focus();
  }

  // Where the focus goes once the editor is redrawn: the equivalent of where it was.
  function focusTarget(op, focusedId) {
    const sections = document.querySelectorAll("#sections > fieldset.section").length;
    const [action, number] = op.split("-");
    const index = Number(number);
    const enabled = (id) => {
      const element = document.getElementById(id);
      return element && !element.disabled ? element : null;
    };
    if (action === "add") {
      announce(`Section ${sections} added.`);
      return document.getElementById(`sections-${sections - 1}-narration`);
    }
    if (action === "up" || action === "down") {
      const now = action === "up" ? index - 1 : index + 1;
      const other = action === "up" ? "down" : "up";
      announce(`Section moved ${action}: it is section ${now + 1} now.`);
      return enabled(`sections-${now}-${action}`) || enabled(`sections-${now}-${other}`);
    }
    if (action === "remove") {
      announce(`Section ${index + 1} removed.`);
      const next = Math.min(index, sections - 1);
      return (next >= 0 && document.getElementById(`sections-${next}-id`))
        || document.getElementById("add-section");
    }
    return focusedId ? document.getElementById(focusedId) : null;
  }

  document.addEventListener("input", changed);
  document.addEventListener("change", changed);
  document.addEventListener("submit", (event) => {
    if (event.target.id !== "editor") return;
    const op = event.submitter ? event.submitter.value : "submit";
    if (op === "export") return; // a download: the page stays, and so does the draft
    leaving = true;
    forgetDraft(event.target);
  });
  window.addEventListener("beforeunload", (event) => {
    if (dirty && !leaving) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-draft]");
    if (!button) return;
    if (button.dataset.draft === "restore") {
      restoreDraft();
    } else {
      forgetDraft(editor());
      document.getElementById("draft-notice").hidden = true;
    }
  });
  document.addEventListener("htmx:beforeRequest", (event) => {
    const source = event.detail.elt;
    if (source && source.name === "op" && source.closest("#editor")) {
      const focused = document.activeElement;
      pending = { op: source.value, focusedId: focused && focused.id };
    }
  });
  document.addEventListener("htmx:afterSettle", () => {
    // Settling comes after every swap of the answer (the editor and its estimate alike).
    if (!pending || !editor()) return;
    const { op, focusedId } = pending;
    pending = null;
    const target = focusTarget(op, focusedId);
    if (target) target.focus();
    if (dirty) saveDraft();
  });
  document.addEventListener("DOMContentLoaded", offerDraft);
})();
