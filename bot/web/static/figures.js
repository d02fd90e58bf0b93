// Draws the figures a static report embeds: each <script type="application/json"
// class="figure" data-for="ID"> holds one plotly figure for the element ID.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const node of document.querySelectorAll("script.figure")) {
    const figure = JSON.parse(node.textContent);
    Plotly.newPlot(node.dataset.for, figure.data, figure.layout, { displaylogo: false, responsive: true });
  }
  document.body.dataset.drawn = "1";
});
