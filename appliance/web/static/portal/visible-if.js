// Shows a booking question only while its `visible_if` holds, deciding as forms.logic.check_answers does
// (which stays the judge when the form is posted: a hidden question is not asked, its answer dropped).
// Without this script every question shows. A question the server found a problem with is never hidden.
(function () {
  "use strict";

  function answerOf(form, key, kind) {
    var inputs = Array.prototype.slice.call(form.querySelectorAll('[name="answers.' + key + '"]'));
    if (!inputs.length) return null;
    if (kind === "checkbox") return inputs[0].checked ? true : null;
    if (kind === "single_select" || kind === "multi_select") {
      var chosen = inputs.filter(function (i) { return i.checked; }).map(function (i) { return i.value; });
      if (!chosen.length) return null;
      return kind === "single_select" ? chosen[0] : chosen;
    }
    var text = inputs[0].value.trim();
    if (!text) return null;
    if (kind === "number") return isFinite(Number(text)) ? Number(text) : null;
    return text;
  }

  function holds(rule, actual) {
    if (rule.op === "is_set") return (actual !== null) === (rule.value !== false);
    if (actual === null) return rule.op === "ne" || rule.op === "not_in";
    var given = Array.isArray(actual) ? actual : [actual];
    var hit = given.some(function (a) { return rule.expected.indexOf(a) !== -1; });
    return rule.op === "eq" || rule.op === "in" ? hit : !hit;
  }

  function update(form) {
    var asked = {};
    form.querySelectorAll(".field[data-key]").forEach(function (field) {
      var rule = field.dataset.visibleIf ? JSON.parse(field.dataset.visibleIf) : null;
      var shown = !rule || (asked[rule.field] === true && holds(rule, answerOf(form, rule.field, rule.kind)));
      if (field.querySelector(".field-error")) shown = true;
      field.hidden = !shown;
      if (shown) asked[field.dataset.key] = true;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector(".field[data-visible-if]")) return;
      update(form);
      form.addEventListener("input", function () { update(form); });
      form.addEventListener("change", function () { update(form); });
    });
  });
})();
