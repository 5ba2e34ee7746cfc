// The customer data export: posts the reason to the subject-export API with the session's CSRF token
// (the JSON API checks it like htmx requests) and saves the archive it streams back.
"use strict";

function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
  } catch (error) {
    return "";
  }
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-subject-export]");
  if (!form) return;
  event.preventDefault();
  const problem = form.querySelector("[data-export-problem]");
  problem.hidden = true;
  const response = await fetch(form.dataset.subjectExport, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify({ reason: form.elements.reason.value }),
  });
  if (!response.ok) {
    problem.hidden = false;
    return;
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = form.dataset.filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
});
