// Dashboard charts: Chart.js (static/vendor) draws each <canvas data-chart='…'>; a click on a
// bar or slice opens the bulk history filtered to it (the URL comes with the data).
(function () {
  "use strict";
  const palette = ["#0b5d4b", "#175cd3", "#b54708", "#7a5af8", "#c11574", "#667085"];
  const outcomeColours = ["#067647", "#b42318"];

  // Long labels on a horizontal bar chart are cut by Chart.js ("d the financial transaction"):
  // break them into lines of whole words instead.
  function wrap(label, width) {
    const lines = [];
    let line = "";
    String(label).split(" ").forEach((word) => {
      if (line && (line + " " + word).length > width) { lines.push(line); line = word; }
      else { line = line ? line + " " + word : word; }
    });
    if (line) { lines.push(line); }
    return lines.length > 1 ? lines : label;
  }

  function build(canvas) {
    const spec = JSON.parse(canvas.dataset.chart);
    const horizontal = Boolean(spec.horizontal);
    const labels = horizontal ? spec.labels.map((l) => wrap(l, 22)) : spec.labels;
    const datasets = spec.datasets.map((ds, i) => ({
      label: ds.label,
      data: ds.data,
      backgroundColor: spec.type === "doughnut" ? outcomeColours : palette[i % palette.length],
    }));
    const chart = new window.Chart(canvas, {
      type: spec.type,
      data: { labels: labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: horizontal ? "y" : "x",
        // A bar chart answers anywhere in a bar's column (thin or short bars stay clickable).
        interaction: spec.type === "bar" ? { mode: "index", intersect: false } : { mode: "nearest", intersect: true },
        plugins: {
          legend: { display: spec.type === "doughnut" || datasets.length > 1 },
          tooltip: { callbacks: { title: (items) => spec.labels[items[0].dataIndex] } },
        },
        scales: horizontal ? { y: { ticks: { autoSkip: false } } } : undefined,
        onClick: (event, elements) => {
          if (!elements.length) { return; }
          const url = spec.links[elements[0].index];
          if (url) { window.location.assign(url); }
        },
        onHover: (event, elements) => {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
      },
    });
    canvas.chart = chart;
    canvas.dataset.ready = "1";
  }

  function init() {
    if (!window.Chart) { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(build);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

// New batch from a list: only amounts that differ from the default are posted, so a list of
// thousands of beneficiaries stays under the server's limit on form fields.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("form[data-changed-only]")) { return; }
  form.querySelectorAll("input[data-default]").forEach((input) => {
    if (input.value.trim() === input.dataset.default.trim()) { input.disabled = true; }
  });
});
