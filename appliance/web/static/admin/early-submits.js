// A form submitted before htmx (and the page's own scripts) have wired it would go out natively: a GET to
// the page's address, carrying what was typed (names, phones) in the URL, or a POST without the CSRF
// header; an htmx button clicked then would do nothing. Loaded before them and not deferred, this holds
// such a submit or click and replays it once htmx is ready.
"use strict";

(() => {
  const scripted = "[hx-post],[hx-put],[hx-patch],[hx-delete],[hx-get],:not([method])";
  const actionButton = "button[type=button]:is([hx-post],[hx-put],[hx-patch],[hx-delete])";
  const held = new Map(); // form -> the button that submitted it
  const clicked = new Set();
  let ready = false;

  document.addEventListener("submit", (event) => {
    if (ready || !(event.target instanceof HTMLFormElement) || !event.target.matches(scripted)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    held.set(event.target, event.submitter);
  }, true);

  document.addEventListener("click", (event) => {
    const button = ready || !(event.target instanceof Element) ? null : event.target.closest(actionButton);
    if (!button) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    clicked.add(button);
  }, true);

  // htmx fires htmx:load on <body> once it has processed the page (after the deferred scripts ran).
  document.addEventListener("htmx:load", (event) => {
    if (ready || event.target !== document.body) return;
    ready = true;
    for (const [form, submitter] of held) {
      if (!form.isConnected) continue;
      // htmx learns which button submitted a form from its click (the button's name and value are sent),
      // so the button that did is clicked again; a form submitted with Enter is submitted again.
      if (submitter && submitter.form === form && submitter.isConnected) submitter.click();
      else form.requestSubmit();
    }
    held.clear();
    for (const button of clicked) if (button.isConnected) button.click();
    clicked.clear();
  });
})();
