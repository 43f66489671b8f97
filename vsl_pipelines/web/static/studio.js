// The studio's few enhancements beyond htmx: a changed model or visual re-renders the editor,
// a chosen YAML file is read into the import box, and a voice chosen (in the editor or a
// narration's rejection) is what its sample's player plays. Everything works without them.
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
    player.src = player.dataset.base + encodeURIComponent(target.value || player.dataset.default);
  }
});
