// Draw the page's figure (JSON embedded by the server) with the locally served plotly.js.
(function () {
  "use strict";
  var holder = document.getElementById("figure-data");
  var target = document.getElementById("chart");
  if (!holder || !target || typeof Plotly === "undefined") {
    return;
  }
  var figure = JSON.parse(holder.textContent);
  Plotly.newPlot(target, figure.data, figure.layout, {
    responsive: true,
    displaylogo: false,
    showLink: false,
    showSendToCloud: false,
  });
})();
