// Eureka's own script: typeset math (KaTeX) in any content, including parts htmx swaps in.
(function () {
  "use strict";

  function typeset(root) {
    if (!window.katex) return;
    root.querySelectorAll(".math.inline, .math.block").forEach(function (el) {
      if (el.dataset.typeset) return;
      try {
        window.katex.render(el.textContent, el, {
          displayMode: el.classList.contains("block"),
          throwOnError: false,
          trust: false,
        });
        el.dataset.typeset = "1";
      } catch (error) {
        el.title = String(error);
      }
    });
  }

  window.eurekaTypeset = typeset;
  document.addEventListener("DOMContentLoaded", function () {
    typeset(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    typeset(event.target);
  });
})();
