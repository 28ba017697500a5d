// ccds dashboard: every few seconds, replace <main> with the server's fresh rendering of it.
// The server escapes every value; this script never builds markup from data.
"use strict";
(function () {
  const main = document.getElementById("dashboard");
  if (!main) return;
  const every = Math.max(1000, parseInt(main.dataset.refresh || "2000", 10));
  const source = main.dataset.source;
  let busy = false;
  async function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const resp = await fetch(source, {credentials: "same-origin", cache: "no-store"});
      if (resp.status === 401) { window.location.reload(); return; }
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const doc = new DOMParser().parseFromString("<main>" + await resp.text() + "</main>", "text/html");
      main.replaceChildren(...doc.body.firstChild.childNodes);
      main.classList.remove("stale");
    } catch (err) {
      main.classList.add("stale");  // keep the last view, marked as old
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, every);
})();
