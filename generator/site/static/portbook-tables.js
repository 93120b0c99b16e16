/* Portbook: every table of a page's content sorts by a click on a column header
 * (tablesort, vendored beside this file) and gets a box above it that keeps only the
 * rows holding every word typed. A cell's data-sort attribute, where present, is the
 * key it sorts by (ports sort by number, not as text). */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const tables = document.querySelectorAll("article table.docutils, div.body table.docutils");
  tables.forEach((table, index) => {
    const body = table.tBodies[0];
    if (!table.tHead || !body || body.rows.length < 2) return;
    if (typeof Tablesort === "function") new Tablesort(table);

    const box = document.createElement("div");
    box.className = "portbook-filter";
    const input = box.appendChild(document.createElement("input"));
    input.type = "search";
    input.id = `portbook-filter-${index}`;
    input.placeholder = "Filter rows";
    input.setAttribute("aria-label", "Filter the rows of the table below");
    const count = box.appendChild(document.createElement("span"));
    count.className = "portbook-filter-count";
    count.setAttribute("aria-live", "polite");
    const rows = Array.from(body.rows);
    input.addEventListener("input", () => {
      const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const row of rows) {
        const text = row.textContent.toLowerCase();
        row.hidden = !words.every((word) => text.includes(word));
        if (!row.hidden) shown += 1;
      }
      count.textContent = words.length ? `${shown} of ${rows.length} rows` : "";
    });
    const wrapper = table.closest(".table-wrapper") || table;
    wrapper.before(box);
  });
});
