// seig run report: sort and filter the image cards. Plain script, no library, no network.
(function () {
  "use strict";
  var grid = document.getElementById("cards");
  if (!grid) return;
  var cards = Array.prototype.slice.call(grid.querySelectorAll(".card"));
  var $ = function (id) { return document.getElementById(id); };
  var num = function (card, key) {
    var v = parseFloat(card.dataset[key]);
    return isNaN(v) ? null : v;
  };
  // numbers first (in the asked direction), cards without the number last, then by id
  var byNumber = function (key, dir) {
    return function (a, b) {
      var x = num(a, key), y = num(b, key);
      if (x === null && y === null) return byId(a, b);
      if (x === null) return 1;
      if (y === null) return -1;
      return x === y ? byId(a, b) : dir * (x - y);
    };
  };
  var byId = function (a, b) { return a.dataset.id < b.dataset.id ? -1 : a.dataset.id > b.dataset.id ? 1 : 0; };
  var sorters = {
    "psnr-desc": byNumber("psnr", -1), "psnr-asc": byNumber("psnr", 1), "ssim-desc": byNumber("ssim", -1),
    "gain-desc": byNumber("gain", -1), "time-desc": byNumber("time", -1), "id-asc": byId
  };

  function keep(card) {
    var status = $("status").value, kind = $("kind").value, tag = $("tag") ? $("tag").value : "";
    var min = parseFloat($("minpsnr").value);
    if (status === "degraded" ? card.dataset.degraded !== "1" : status && card.dataset.status !== status) return false;
    if (kind && card.dataset.kind !== kind) return false;
    if (tag && (" " + card.dataset.tags + " ").indexOf(" " + tag + " ") < 0) return false;
    if (!isNaN(min) && !(num(card, "psnr") >= min)) return false;
    return true;
  }

  function apply() {
    var sorted = cards.slice().sort(sorters[$("sort").value] || byId);
    var shown = 0;
    sorted.forEach(function (card) {
      card.hidden = !keep(card);
      if (!card.hidden) shown += 1;
      grid.appendChild(card);
    });
    $("shown").textContent = "showing " + shown + " of " + cards.length + " cards";
  }

  ["sort", "status", "kind", "tag", "minpsnr"].forEach(function (id) {
    var el = $(id);
    if (el) el.addEventListener(id === "minpsnr" ? "input" : "change", apply);
  });
  apply();
})();
