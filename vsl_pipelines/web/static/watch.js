/* The landing-page player (/watch/{cut}): the cut's rendition that fits the frame the page
   fills, chosen once at load; HLS through hls.js (the MP4 where it is absent or
   fails), muted autoplay with tap-to-unmute, resume where this browser left off, the
   call-to-action from its time, the end action, and the events posted to /api/events with the
   signature the page was served with (each kind once per page; the service keeps each once
   per viewer). */
(function () {
  "use strict";
  var video = document.getElementById("player");
  if (!video) return;
  var data = video.dataset;
  var unmute = document.getElementById("unmute");
  var cta = document.getElementById("cta");

  function store(name, value) {
    try {
      if (value === null) localStorage.removeItem(name); else localStorage.setItem(name, value);
    } catch (e) { /* storage refused (private mode, a sandboxed frame): play without it */ }
  }
  function stored(name) {
    try { return localStorage.getItem(name); } catch (e) { return null; }
  }
  function randomId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var viewer = stored("vsl-viewer");
  if (!viewer || !/^[A-Za-z0-9_-]{8,64}$/.test(viewer)) {
    viewer = randomId();
    store("vsl-viewer", viewer);
  }
  var sent = {};
  function report(kind) {
    if (sent[kind]) return;
    sent[kind] = true;
    fetch(data.events, {
      method: "POST",
      keepalive: true,  // a CTA click's report outlives the page it leaves
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cut: data.cut, sig: data.sig, viewer: viewer, kind: kind })
    }).catch(function () { /* a lost report never stops the video */ });
  }
  report("view");

  // The rendition whose aspect is nearest the frame the page fills (the window, or the iframe
  // a landing page embeds it in), on a log scale so 2:1 and 1:2 are as far from square: 9:16
  // on a phone held upright, 1:1 in a square-ish frame, 16:9 on a desktop; the first on a tie
  // or when no size is known. Chosen once: turning the phone mid-play does not restart the
  // video (the frame letterboxes it).
  function pick(list) {
    var width = window.innerWidth || document.documentElement.clientWidth;
    var height = window.innerHeight || document.documentElement.clientHeight;
    var best = list[0];
    if (!(width > 0 && height > 0)) return best;
    var frame = Math.log(width / height);
    var nearest = Infinity;
    list.forEach(function (r) {
      if (!(r.width > 0 && r.height > 0)) return;
      var gap = Math.abs(Math.log(r.width / r.height) - frame);
      if (gap < nearest - 1e-6) { best = r; nearest = gap; }
    });
    return best;
  }
  var renditions = [];
  try { renditions = JSON.parse(data.renditions || "[]"); } catch (e) { /* none: below */ }
  var chosen = pick(renditions);
  if (!chosen) return;
  video.dataset.rendition = chosen.aspect || "";
  if (chosen.poster) video.poster = chosen.poster;
  // The tracks in the page are the first rendition's; one timed otherwise brings its own.
  function useTrack(kind, url, label) {
    if (!url) return;
    var track = video.querySelector('track[kind="' + kind + '"]');
    if (!track) {
      track = document.createElement("track");
      track.kind = kind;
      track.srclang = "en";
      track.label = label;
      track.default = kind === "captions";
      video.appendChild(track);
    }
    if (track.getAttribute("src") !== url) track.src = url;
  }
  useTrack("captions", chosen.captions, "Captions");
  useTrack("chapters", chosen.chapters, "Chapters");

  function playMp4() {
    video.src = chosen.mp4;
  }
  if (chosen.hls && window.Hls && window.Hls.isSupported()) {
    var hls = new window.Hls({ enableWorker: false });  // no blob: worker under the page's CSP
    hls.on(window.Hls.Events.ERROR, function (_event, error) {
      if (error.fatal) { hls.destroy(); playMp4(); video.play().catch(function () {}); }
    });
    hls.loadSource(chosen.hls);
    hls.attachMedia(video);
  } else if (chosen.hls && video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = chosen.hls;  // Safari plays HLS itself
  } else {
    playMp4();
  }

  var position = "vsl-position:" + data.cut;
  var resumeAt = parseFloat(stored(position) || "");
  video.addEventListener("loadedmetadata", function () {
    if (resumeAt > 1 && resumeAt < video.duration - 2) video.currentTime = resumeAt;
  }, { once: true });

  video.muted = true;
  var started = video.play();
  if (started && started.catch) started.catch(function () { /* autoplay refused: controls remain */ });
  unmute.hidden = false;
  function unmuted() {
    if (video.muted) return;
    unmute.hidden = true;
    report("unmute");
  }
  unmute.addEventListener("click", function () {
    video.muted = false;
    if (video.paused) video.play().catch(function () {});
  });
  video.addEventListener("volumechange", unmuted);
  video.addEventListener("play", function () { report("play"); });

  var ctaAt = data.ctaAt === undefined ? null : parseFloat(data.ctaAt);
  var savedAt = 0;
  video.addEventListener("timeupdate", function () {
    var t = video.currentTime;
    var duration = video.duration;
    if (duration > 0) {
      [25, 50, 75].forEach(function (q) { if (t >= duration * q / 100) report("q" + q); });
    }
    if (cta && ctaAt !== null && t >= ctaAt) cta.hidden = false;
    if (Math.abs(t - savedAt) >= 1) { savedAt = t; store(position, String(t)); }
  });
  if (cta) cta.addEventListener("click", function () { report("cta"); });

  video.addEventListener("ended", function () {
    ["q25", "q50", "q75", "q100"].forEach(report);
    store(position, null);
    if (cta && ctaAt !== null) cta.hidden = false;
    if (data.end === "replay") {
      video.currentTime = 0;
      video.play().catch(function () {});
    } else if (data.end === "redirect" && data.redirect) {
      try { window.top.location.href = data.redirect; } catch (e) { window.location.href = data.redirect; }
    }
  });
})();
