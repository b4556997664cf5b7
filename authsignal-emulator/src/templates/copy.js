// Progressive enhancement of the hosted pages: "Copy" buttons. The pages work without it (the
// buttons stay hidden); with it, a button with data-copy puts that text on the clipboard.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (!navigator.clipboard) { return; }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
        button.textContent = button.getAttribute("data-copied") || "Copied";
        window.setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
});
