// Draws every [data-chart] element with ECharts. The page renders the numbers into the attribute
// (report_views.Chart as JSON: kind, title, labels, series): no inline script under our CSP.
(function () {
  "use strict";

  function option(spec) {
    var base = {
      aria: { enabled: true },
      animation: false,
      tooltip: { trigger: spec.kind === "pie" ? "item" : "axis" },
      legend: { show: spec.series.length > 1 || spec.kind === "pie", bottom: 0, type: "scroll" },
      grid: { left: 8, right: 16, top: 16, bottom: 40, containLabel: true }
    };
    if (spec.kind === "pie") {
      base.series = [{
        type: "pie", name: spec.series[0].name, radius: ["35%", "65%"],
        data: spec.labels.map(function (label, i) { return { name: label, value: spec.series[0].data[i] }; })
      }];
      return base;
    }
    var categories = { type: "category", data: spec.labels, axisLabel: { hideOverlap: true } };
    var values = { type: "value" };
    var horizontal = spec.kind === "barh";
    base.xAxis = horizontal ? values : categories;
    base.yAxis = horizontal ? Object.assign({}, categories, { inverse: true }) : values;
    if (spec.second_axis) {
      // Money beside counts: its own scale on the right, or the counts flatten to nothing.
      base.yAxis = [values, { type: "value", position: "right", splitLine: { show: false } }];
    }
    base.series = spec.series.map(function (s, i) {
      return {
        type: spec.kind === "line" ? "line" : "bar", name: s.name, data: s.data,
        yAxisIndex: spec.second_axis && i > 0 ? 1 : 0
      };
    });
    return base;
  }

  function draw() {
    if (typeof window.echarts === "undefined") return;
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option(JSON.parse(el.getAttribute("data-chart"))));
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
