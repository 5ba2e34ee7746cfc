// The full export: POST the export API with the session's CSRF token, then save the archive it streams.
(() => {
  const form = document.getElementById("export-form");
  if (!form) return;
  const status = document.getElementById("export-status");
  const csrf = () => JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const passphrase = form.elements.passphrase.value;
    button.disabled = true;
    status.textContent = form.dataset.working;
    try {
      const response = await fetch(form.dataset.exportUrl, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
        body: JSON.stringify(passphrase ? {passphrase} : {}),
      });
      if (!response.ok) {
        // A problem+json answer names what is wrong (a passphrase too short): show its message.
        const problem = await response.json().catch(() => ({}));
        const detail = (problem.errors || []).map((e) => e.message).join("; ") || problem.detail || String(response.status);
        status.textContent = `${form.dataset.failed} ${detail}`;
        return;
      }
      const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      const name = match ? match[1] : "appliance-export.zip";
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      form.elements.passphrase.value = "";
      status.textContent = `${form.dataset.done} ${name}`;
    } finally {
      button.disabled = false;
    }
  });
})();
