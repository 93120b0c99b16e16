/* Portbook: on the search page, a port finds the pages showing it or a range holding
 * it (50000 in 49152-65535/tcp), from PORTBOOK_PORT_RANGES, written from the whole data
 * at each build: Sphinx's own index entries hold only the pages its last build wrote.
 * They go at the top of Sphinx's result list, role pages first, and Sphinx's results
 * for the same sections are left out, so each is listed once. */
"use strict";

(() => {
  const query = new URLSearchParams(window.location.search).get("q") || "";
  // "50000", "50000/tcp": a port, with a transport or not.
  const wanted = [];
  for (const word of query.trim().split(/\s+/)) {
    const match = /^([0-9]{1,5})(?:\/([a-z0-9-]+))?$/i.exec(word);
    if (match && Number(match[1]) <= 65535) {
      wanted.push([Number(match[1]), match[2] ? match[2].toLowerCase() : null]);
    }
  }
  const ranges = typeof PORTBOOK_PORT_RANGES === "undefined" ? [] : PORTBOOK_PORT_RANGES;
  const found = [];
  const seen = new Set();
  for (const [first, last, transport, docname, anchor, title, where, rolePage] of ranges) {
    const hit = wanted.some(([port, want]) => first <= port && port <= last && (!want || want === transport));
    const key = docname + "#" + anchor;
    if (hit && !seen.has(key)) {
      seen.add(key);
      const ports = first === last ? `${first}` : `${first}-${last}`;
      found.push({ docname, anchor, title, where, rolePage, label: `${ports}/${transport}` });
    }
  }
  if (!found.length) return;
  found.sort((a, b) => Number(b.rolePage) - Number(a.rolePage));

  const suffix = (window.DOCUMENTATION_OPTIONS && DOCUMENTATION_OPTIONS.LINK_SUFFIX) || ".html";
  const items = found.map((page) => {
    const item = document.createElement("li");
    item.classList.add("kind-index", "portbook-port-range");
    const link = item.appendChild(document.createElement("a"));
    link.href = page.docname + suffix + "#" + page.anchor;
    link.textContent = page.title;
    item.appendChild(document.createElement("span")).textContent = ` (${page.where}: ${page.label})`;
    return item;
  });

  // The sections listed here, as Sphinx's links to them resolve.
  const ours = new Set(items.map((item) => {
    const url = new URL(item.querySelector("a").getAttribute("href"), window.location.href);
    return url.pathname + url.hash;
  }));

  const start = () => {
    const results = document.getElementById("search-results");
    if (!results) return;
    // Sphinx makes its result list once the index has loaded, and says at the end how
    // many pages it found: when that is none, the pages found here are counted instead.
    const update = () => {
      const list = results.querySelector("ul.search");
      if (list && !list.dataset.portbookRanges) {
        list.dataset.portbookRanges = "added";
        list.prepend(...items);
      }
      if (list) {
        for (const other of list.querySelectorAll("li:not(.portbook-port-range)")) {
          const link = other.querySelector("a");
          const url = link ? new URL(link.href, window.location.href) : null;
          if (url && ours.has(url.pathname + url.hash)) other.remove();
        }
      }
      const summary = results.querySelector("p.search-summary");
      if (list && summary && summary.textContent && list.children.length === items.length) {
        const text = `Search finished, found ${items.length} page section(s) showing the port or a range that holds it.`;
        if (summary.textContent !== text) summary.textContent = text;
      }
    };
    update();
    new MutationObserver(update).observe(results, { childList: true, subtree: true, characterData: true });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
