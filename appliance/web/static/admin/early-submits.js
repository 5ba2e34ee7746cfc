// A form submitted before htmx (and the page's own scripts) have wired it would go out natively: a GET to
// the page's address, carrying what was typed (names, phones) in the URL, or a POST without the CSRF
// header. Loaded before them and not deferred, this holds such a submit and sends it once htmx is ready.
"use strict";

(() => {
  const scripted = "[hx-post],[hx-put],[hx-patch],[hx-delete],[hx-get],:not([method])";
  const held = new Map(); // form -> the button that submitted it
  let ready = false;

  document.addEventListener("submit", (event) => {
    if (ready || !(event.target instanceof HTMLFormElement) || !event.target.matches(scripted)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    held.set(event.target, event.submitter);
  }, true);

  // htmx fires htmx:load on <body> once it has processed the page (after the deferred scripts ran).
  document.addEventListener("htmx:load", (event) => {
    if (ready || event.target !== document.body) return;
    ready = true;
    for (const [form, submitter] of held) {
      if (form.isConnected) form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
    }
    held.clear();
  });
})();
