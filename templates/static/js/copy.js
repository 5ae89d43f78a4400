// Copy buttons: a `button.copy` with `data-copy-target="<id>"` copies the text of the element
// with that id to the clipboard and says so on the button for a moment. Without JavaScript
// (or clipboard access) the text stays selectable by hand.
(function () {
  "use strict";

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function say(button, text) {
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  function copy(button) {
    var target = document.getElementById(button.dataset.copyTarget || "");
    if (!target) { return; }
    var text = target.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { say(button, "Copied"); },
        function () { selectText(target); say(button, "Press Ctrl+C to copy"); }
      );
    } else {
      selectText(target);
      say(button, "Press Ctrl+C to copy");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button.copy[data-copy-target]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", function () { copy(button); });
    });
  });
}());
