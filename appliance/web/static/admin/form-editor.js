// The forms editor: a question's "Other question" select offers the keys typed in the other rows so far,
// not only those of the last save. Refreshed when the select gets focus (keyboard or pointer); without
// this script it offers the saved keys.
document.addEventListener("focusin", (event) => {
  const select = event.target;
  if (!(select instanceof HTMLSelectElement) || !select.name.endsWith(".visible_field")) return;
  const form = select.closest("form");
  const row = select.name.slice(0, -".visible_field".length);
  const own = form.querySelector(`[name="${row}.key"]`)?.value.trim();
  const keys = [...form.querySelectorAll('input[name$=".key"]')]
    .map((input) => input.value.trim())
    .filter((key) => key && key !== own);
  const chosen = select.value;
  for (const option of [...select.options].slice(1)) option.remove();
  for (const key of new Set(chosen ? [...keys, chosen] : keys)) {
    select.add(new Option(key, key, false, key === chosen));
  }
});
