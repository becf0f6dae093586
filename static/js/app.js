// Small behaviours without inline scripts (the CSP forbids them).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
}, true);

// Elements with data-autosubmit submit their form when changed (filters).
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-autosubmit]")) {
    event.target.form.requestSubmit();
  }
});

// HTMX does not swap error responses: show their French message (from the error page) instead
// of leaving the user with a button that seems to do nothing.
function showAlert(message, category) {
  const main = document.querySelector("main");
  if (!main) return;
  let box = main.querySelector(".flashes");
  if (!box) {
    box = document.createElement("div");
    box.className = "flashes";
    main.prepend(box);
  }
  const alert = document.createElement("div");
  alert.className = `alert alert-${category}`;
  alert.setAttribute("role", "alert");
  alert.textContent = message;
  box.replaceChildren(alert);
}

document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  let message = `Erreur ${xhr.status}.`;
  const type = xhr.getResponseHeader("Content-Type") || "";
  if (type.includes("application/json")) {
    try { message = JSON.parse(xhr.responseText).erreur || message; } catch (e) { /* keep the default */ }
  } else {
    const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    const text = page.querySelector("main .card p");
    if (text) message = text.textContent.trim();
  }
  showAlert(message, "danger");
});

document.addEventListener("htmx:sendError", () => {
  showAlert("Le serveur ne répond pas. Vérifiez la connexion et réessayez.", "danger");
});

// Narrow screens: the Menu button folds and unfolds the navigation (CSS hides it below 768 px).
document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".nav-toggle");
  if (!toggle) return;
  const bar = toggle.closest(".topbar");
  const open = bar.classList.toggle("nav-open");
  toggle.setAttribute("aria-expanded", open ? "true" : "false");
});

// A table that scrolls sideways (narrow screens) must be reachable with the keyboard.
function markScrollableTables() {
  document.querySelectorAll(".table").forEach((table) => {
    if (table.scrollWidth > table.clientWidth + 1) {
      table.setAttribute("tabindex", "0");
      if (!table.hasAttribute("aria-label")) table.setAttribute("aria-label", "Tableau défilant horizontalement");
    } else if (table.getAttribute("tabindex") === "0") {
      table.removeAttribute("tabindex");
    }
  });
}
document.addEventListener("DOMContentLoaded", markScrollableTables);
window.addEventListener("resize", markScrollableTables);
document.addEventListener("htmx:afterSwap", markScrollableTables);
