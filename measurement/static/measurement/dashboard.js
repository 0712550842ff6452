// The dashboard's charts (Chart.js, vendored in static/vendor/chartjs). Data comes
// from the page itself (json_script "mdash-data"); nothing is fetched.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    var node = document.getElementById("mdash-data");
    if (!node || !window.Chart) return;
    var data = JSON.parse(node.textContent);
    var colors = ["#417690", "#e07a1f", "#2f9e44", "#b42318", "#7048e8", "#0b7285", "#868e96",
                  "#f08c00", "#5c940d", "#c2255c", "#364fc7", "#495057"];
    var base = { responsive: true, maintainAspectRatio: false, animation: false,
                 plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } };
    function chart(id, config) {
      var el = document.getElementById(id);
      if (el) new window.Chart(el, config);
    }
    function num(v) { return v === null || v === undefined ? null : Number(v); }
    var days = data.daily.map(function (d) { return d.day.slice(5); });

    chart("chart-funnel", { type: "bar", data: {
      labels: data.funnel.map(function (f) { return f.stage; }),
      datasets: [{ label: "", data: data.funnel.map(function (f) { return f.count; }),
                   backgroundColor: colors[0] }] },
      options: Object.assign({}, base, { indexAxis: "y", plugins: { legend: { display: false } } }) });

    chart("chart-daily", { type: "line", data: { labels: days, datasets: [
      { label: "clicks", data: data.daily.map(function (d) { return d.clicks; }), borderColor: colors[0], backgroundColor: colors[0], pointRadius: 2, tension: 0 },
      { label: "referrals", data: data.daily.map(function (d) { return d.referrals; }), borderColor: colors[1], backgroundColor: colors[1], pointRadius: 2, tension: 0 },
      { label: "purchases", data: data.daily.map(function (d) { return d.purchases; }), borderColor: colors[2], backgroundColor: colors[2], pointRadius: 2, tension: 0 }
    ] }, options: base });

    chart("chart-money", { type: "bar", data: { labels: days, datasets: [
      { label: "referred revenue", data: data.daily.map(function (d) { return num(d.referred_revenue); }), backgroundColor: colors[2] },
      { label: "reward cost", data: data.daily.map(function (d) { return num(d.reward_cost); }), backgroundColor: colors[3] }
    ] }, options: base });

    var longest = data.cohorts.reduce(function (m, c) { return Math.max(m, c.months.length); }, 0);
    var offsets = []; for (var i = 0; i < longest; i++) offsets.push("+" + i);
    chart("chart-cohorts", { type: "line", data: { labels: offsets,
      datasets: data.cohorts.map(function (c, n) {
        return { label: c.cohort + " (" + c.customers + ")", data: c.months, borderColor: colors[n % colors.length],
                 backgroundColor: colors[n % colors.length], pointRadius: 2, tension: 0 };
      }) },
      options: Object.assign({}, base, { scales: { y: { min: 0, max: 100, ticks: { callback: function (v) { return v + " %"; } } } } }) });

    chart("chart-nps", { type: "line", data: { labels: data.nps.map(function (m) { return m.month; }),
      datasets: [{ label: "NPS", data: data.nps.map(function (m) { return m.score; }), borderColor: colors[4],
                   backgroundColor: colors[4], spanGaps: true, tension: 0 }] },
      options: Object.assign({}, base, { plugins: { legend: { display: false } }, scales: { y: { min: -100, max: 100 } } }) });
  });
})();
