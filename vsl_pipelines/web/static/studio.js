// The studio's few enhancements beyond htmx: a changed model or visual re-renders the editor,
// and a chosen YAML file is read into the import box. Everything works without them.
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
});
