// The studio's few enhancements beyond htmx: a changed model or visual re-renders the editor,
// a chosen YAML file is read into the import box, and a voice chosen (in the editor or a
// narration's rejection) is what its sample's player plays, and says why when it cannot (no
// budget for a new sample, a viewer's listen, the model down). Everything works without them.
"use strict";
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.matches("select.refresh")) {
    const refresh = document.getElementById("refresh-button");
    if (refresh && window.htmx) refresh.click();
  }
  if (target.matches("input[type=file][data-fills]") && target.files.length) {
    const box = document.getElementById(target.dataset.fills);
    target.files[0].text().then((text) => { box.value = text; });
  }
  // The model's default voice when the choice is empty.
  const player = target.dataset && document.getElementById(target.dataset.sample || "");
  if (player) {
    player.pause();
    sampleNote(player).textContent = "";
    player.src = player.dataset.base + encodeURIComponent(target.value || player.dataset.default);
  }
});

// Where a sample's player says why it does not play (made once, after the player).
function sampleNote(player) {
  let note = player.nextElementSibling;
  if (!note || !note.classList.contains("voice-sample-note")) {
    note = document.createElement("p");
    note.className = "voice-sample-note";
    note.setAttribute("role", "status");
    player.after(note);
  }
  return note;
}

// A media element's error does not bubble: caught on its way down. The sample's URL answers
// the studio's error page; its message is what the player shows.
document.addEventListener("error", (event) => {
  const player = event.target;
  if (!(player instanceof HTMLAudioElement) || !player.classList.contains("voice-sample")) return;
  const source = player.currentSrc || player.src;
  fetch(source, { credentials: "same-origin" }).then(async (answer) => {
    if (answer.ok) return;
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    const shown = page.querySelector(".error");
    const text = shown ? shown.textContent.trim() : `${answer.status} ${answer.statusText}`;
    if (player.currentSrc === source || player.src === source) {
      sampleNote(player).textContent = `This sample does not play: ${text}`;
    }
  }).catch(() => {
    sampleNote(player).textContent = "This sample does not play: the studio is out of reach.";
  });
}, true);
