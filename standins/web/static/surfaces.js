// The sandbox's Home tab: opens it, forwards button clicks and modal submissions to the bot
// (through the sandbox, signed as Slack would), and shows what the bot publishes. HTML comes
// from the server, escaped there; this script only places it.
(() => {
  "use strict";
  const home = document.getElementById("home");
  const modal = document.getElementById("modal");
  let shownModal = ""; // the open modal's view_id, "" when none
  let shownHtml = ""; // what is drawn: redrawn only when the bot changed it (update, errors)

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  function show(state) {
    if (state.home) home.innerHTML = state.home;
    if (state.modal !== shownHtml) {
      modal.innerHTML = state.modal;
      modal.hidden = !state.modal;
      shownHtml = state.modal;
    }
    shownModal = state.view_id;
  }

  function values(form) {
    const out = {};
    for (const field of form.querySelectorAll("[data-kind]")) {
      const name = field.name;
      if (field.dataset.kind === "checkboxes") {
        out[name] = out[name] || [];
        if (field.checked) out[name].push(field.value);
      } else if (field.dataset.kind === "select") {
        out[name] = field.value || null;
      } else {
        out[name] = field.value;
      }
    }
    return out;
  }

  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-action-id]");
    if (button) {
      const form = button.closest(".surface-modal");
      show(await post("/api/home/click", {
        action_id: button.dataset.actionId,
        block_id: button.dataset.blockId || "",
        view_id: form ? form.dataset.viewId : "",
      }));
    } else if (e.target.closest(".surface-close")) {
      const form = e.target.closest(".surface-modal");
      show(await post("/api/modal/close", { view_id: form.dataset.viewId }));
    }
  });

  document.addEventListener("submit", async (e) => {
    const form = e.target.closest(".surface-modal");
    if (form) {
      e.preventDefault();
      const typed = values(form);
      show(await post("/api/modal/submit", { view_id: form.dataset.viewId, values: typed }));
      for (const field of modal.querySelectorAll("input[data-kind=text]")) {
        if (field.name in typed) field.value = typed[field.name]; // Slack keeps what was typed
      }
    }
  });

  document.getElementById("unfurl").addEventListener("submit", async (e) => {
    e.preventDefault();
    const status = document.getElementById("unfurl-status");
    const card = document.getElementById("unfurl-card");
    status.textContent = "Posted; waiting for the bot…";
    try {
      const data = await post("/api/unfurl", {
        url: document.getElementById("unfurl-url").value,
        channel: document.getElementById("unfurl-channel").value,
      });
      status.textContent = "";
      card.innerHTML = data.html;
    } catch (error) {
      status.textContent = error.message;
    }
  });

  // The subscriptions modal fills its job picker after opening (views.update): keep looking.
  setInterval(async () => {
    if (!shownModal) return;
    const response = await fetch("/api/home");
    if (response.ok) show(await response.json());
  }, 1000);

  post("/api/home/open", {}).then(show);
})();
