/* The source viewer: bring the quoted passage to the middle of the window and give it focus. */
"use strict";
(() => {
  const quote = document.getElementById("quote");
  if (!quote) return;
  quote.scrollIntoView({ block: "center" });
  quote.focus({ preventScroll: true });
})();
