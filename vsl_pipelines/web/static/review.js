// Review from the keyboard (the studio's review queue and a script page's sections): J/K move
// to the next/previous section waiting, P plays it, A approves it, R opens its reject form.
// Sections played are offered for one approval; a clip plays with its voice beside it; a
// script's sequence plays its sections one after the other. Every form works without it.
"use strict";
(() => {
  const ITEM = "[data-review-item]";
  let currentId = null;

  const items = () => [...document.querySelectorAll(ITEM)];
  const current = () => (currentId && document.getElementById(currentId)) || null;
  const mediaOf = (item) => {
    const scope = item.closest("article, section") || item;
    return scope.querySelector("video[data-lead], video, audio");
  };

  function select(item) {
    if (!item) return;
    const before = current();
    if (before) before.classList.remove("current");
    currentId = item.id;
    item.classList.add("current");
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "start" });
  }

  function move(step) {
    const all = items();
    if (!all.length) return;
    const at = all.indexOf(current());
    const next = at < 0 ? all[step > 0 ? 0 : all.length - 1] : all[at + step];
    select(next || all[at]);
  }

  function approve(item) {
    const button = item.querySelector("[data-approve]");
    if (button && button.form) button.form.requestSubmit(button);
  }

  function openReject(item) {
    const details = item.querySelector("details.reject");
    if (!details) return;
    details.open = true;
    const field = details.querySelector("textarea, input:not([type=hidden]), select");
    if (field) field.focus();
  }

  function play(item) {
    const media = mediaOf(item);
    if (!media) return;
    if (media.paused) media.play().catch(() => {});
    else media.pause();
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    const key = event.key.toLowerCase();
    if (key === "j" || key === "k") {
      event.preventDefault();
      move(key === "j" ? 1 : -1);
      return;
    }
    const item = current();
    if (!item) return;
    const actions = { a: approve, r: openReject, p: play };
    if (actions[key]) {
      event.preventDefault();
      actions[key](item);
    }
  });

  // A click or focus inside a section makes it the current one.
  document.addEventListener("focusin", (event) => {
    const item = event.target.closest && event.target.closest(ITEM);
    if (item && item.id !== currentId) {
      const before = current();
      if (before) before.classList.remove("current");
      currentId = item.id;
      item.classList.add("current");
    }
  });

  // Played: a section whose media played (or ended) is offered for "approve the played".
  const playedTokens = new Set();
  function played(event) {
    const media = event.target;
    if (media.classList && media.classList.contains("voice-sample")) return; // not the take
    const item = media.closest && media.closest("[data-approve-token]");
    if (!item || item.dataset.played) return;
    item.dataset.played = "true";
    item.classList.add("played");
    playedTokens.add(item.dataset.approveToken);
    offerPlayed();
  }
  function offerPlayed() {
    const form = document.getElementById("approve-played");
    if (!form) return;
    const tokens = [...document.querySelectorAll("[data-approve-token][data-played]")].map(
      (el) => el.dataset.approveToken,
    );
    if (!tokens.length && form.hidden) return;
    form.elements.namedItem("items").value = tokens.join(" ");
    const button = form.querySelector("button");
    button.disabled = tokens.length === 0;
    button.textContent = `Approve the ${tokens.length} played section${tokens.length === 1 ? "" : "s"}`;
    form.hidden = false;
  }
  document.addEventListener("play", played, true);
  document.addEventListener("ended", played, true);

  // The queue refreshes itself while a script of it is active (htmx polls #review-live), but
  // not under the reviewer: not while media plays, a field has the focus or a form is open.
  const LIVE = "review-live";
  const busy = (live) =>
    [...live.querySelectorAll("video, audio")].some((m) => !m.paused && !m.ended) ||
    live.querySelector("details[open]") !== null ||
    (document.activeElement && live.contains(document.activeElement) &&
      document.activeElement.matches("input, textarea, select"));
  document.addEventListener("htmx:beforeRequest", (event) => {
    const live = event.target;
    if (live && live.id === LIVE && busy(live)) event.preventDefault();
  });
  // After a refresh: the same section current (without scrolling), its played state kept.
  document.addEventListener("htmx:afterSettle", () => {
    if (!document.getElementById(LIVE)) return;
    for (const item of document.querySelectorAll("[data-approve-token]")) {
      if (playedTokens.has(item.dataset.approveToken)) {
        item.dataset.played = "true";
        item.classList.add("played");
      }
    }
    offerPlayed();
    const item = current();
    if (item) {
      item.classList.add("current");
      if (!document.activeElement || document.activeElement === document.body) {
        item.focus({ preventScroll: true });
      }
    }
  });

  // A clip with its voice beside it (no preview yet): the voice follows the clip.
  function follow(event) {
    const video = event.target;
    if (!(video instanceof HTMLVideoElement) || !video.id) return;
    const voice = document.querySelector(`audio[data-follows="${video.id}"]`);
    if (!voice) return;
    if (event.type === "play") {
      if (video.currentTime < (voice.duration || Infinity)) voice.currentTime = video.currentTime;
      voice.play().catch(() => {});
    } else if (event.type === "pause") {
      voice.pause();
    } else if (event.type === "seeked") {
      voice.currentTime = Math.min(video.currentTime, voice.duration || video.currentTime);
    }
  }
  for (const type of ["play", "pause", "seeked"]) document.addEventListener(type, follow, true);

  // The whole sequence: its sections' media one after the other in one player.
  function sequence() {
    const list = document.getElementById("sequence");
    const video = document.getElementById("sequence-video");
    const voice = document.getElementById("sequence-voice");
    const button = document.getElementById("sequence-play");
    if (!list || !video || !voice || !button) return;
    const parts = [...list.querySelectorAll("li[data-video], li[data-audio]")];
    if (!parts.length) return;
    let at = -1;
    let waiting = 0;
    const load = (media, url) => {
      if (url) media.src = url;
      else media.removeAttribute("src");
      media.load();
    };
    const playPart = (index) => {
      at = index;
      for (const part of parts) part.classList.toggle("playing", part === parts[index]);
      const part = parts[index];
      if (!part) {
        video.dataset.part = "done";
        return;
      }
      video.dataset.part = part.dataset.section;
      load(video, part.dataset.video);
      load(voice, part.dataset.audio);
      waiting = (part.dataset.video ? 1 : 0) + (part.dataset.audio ? 1 : 0);
      if (part.dataset.video) video.play().catch(() => {});
      if (part.dataset.audio) voice.play().catch(() => {});
    };
    const ended = () => {
      waiting -= 1;
      if (waiting <= 0 && at >= 0) playPart(at + 1);
    };
    video.addEventListener("ended", ended);
    voice.addEventListener("ended", ended);
    video.addEventListener("pause", () => { if (!video.ended) voice.pause(); });
    video.addEventListener("play", () => { if (voice.src && voice.paused && !voice.ended) voice.play().catch(() => {}); });
    button.addEventListener("click", () => playPart(0));
    button.hidden = false;
    video.hidden = false;
  }

  function start() {
    sequence();
    const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) {
      const item = target.matches(ITEM) ? target : target.querySelector(ITEM);
      if (item) select(item);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
