// The sandbox page: keeps the server-rendered channel live (Server-Sent Events), opens threads,
// and sends what you type or click to the sandbox, which forwards it to the bot as Slack would.
"use strict";

(() => {
  const channel = document.body.dataset.channel;
  const list = document.getElementById("messages");
  const thread = document.getElementById("thread");
  const threadBody = document.getElementById("thread-body");
  const composer = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  const composerStatus = document.getElementById("composer-status");
  const nextRun = document.getElementById("next-run");
  const nextRunStatus = document.getElementById("next-run-status");
  let openTs = null; // the thread shown in the side panel
  let awaitingThread = null; // a clicked message whose thread should open when a reply lands

  const timeFormat = { hour: "2-digit", minute: "2-digit" };
  function localizeTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      const when = new Date(el.getAttribute("datetime"));
      el.textContent = when.toLocaleTimeString([], timeFormat);
      el.title = when.toLocaleString();
    }
  }

  async function post(path, payload) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }

  function say(el, text, kind) {
    el.textContent = text;
    el.dataset.kind = kind || "";
  }

  // Replace, add or remove message nodes by ts, so open menus and scroll survive updates.
  function sync(container, items) {
    const seen = new Set();
    let previous = null;
    for (const item of items) {
      seen.add(item.ts);
      let node = container.querySelector(`:scope > [data-ts="${CSS.escape(item.ts)}"]`);
      if (!node || node.dataset.html !== item.html) {
        const fresh = document.createElement("template");
        fresh.innerHTML = item.html;
        const created = fresh.content.firstElementChild;
        created.dataset.html = item.html;
        localizeTimes(created);
        if (node) node.replaceWith(created);
        node = created;
      }
      let expected = previous ? previous.nextElementSibling : container.firstElementChild;
      while (expected && !expected.dataset.ts) expected = expected.nextElementSibling;
      if (expected !== node) container.insertBefore(node, expected);
      previous = node;
    }
    for (const node of [...container.querySelectorAll(":scope > [data-ts]")]) {
      if (!seen.has(node.dataset.ts)) node.remove();
    }
    container.classList.toggle("is-empty", items.length === 0);
  }

  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  // Each refresh loads the whole view; an answer overtaken by a newer request is dropped.
  const latest = { channel: 0, thread: 0 };

  async function refreshChannel() {
    const seq = ++latest.channel;
    const response = await fetch(`/api/messages?channel=${encodeURIComponent(channel)}`);
    if (!response.ok) return;
    const data = await response.json();
    if (seq !== latest.channel) return;
    const stick = nearBottom(list);
    sync(list, data.messages);
    if (stick) list.scrollTop = list.scrollHeight;
  }

  async function refreshThread() {
    if (!openTs) return;
    const seq = ++latest.thread;
    const query = `channel=${encodeURIComponent(channel)}&ts=${encodeURIComponent(openTs)}`;
    const response = await fetch(`/api/thread?${query}`);
    if (seq !== latest.thread) return;
    if (!response.ok) return closeThread();
    const data = await response.json();
    if (seq !== latest.thread || data.ts !== openTs) return;
    const stick = nearBottom(threadBody);
    sync(threadBody, [...data.parent, ...data.replies]);
    const parent = threadBody.firstElementChild;
    if (parent) parent.classList.add("thread-parent");
    let divider = threadBody.querySelector(".thread-count");
    if (!divider) {
      divider = document.createElement("div");
      divider.className = "thread-count";
    }
    const n = data.replies.length;
    divider.textContent = `${n} repl${n === 1 ? "y" : "ies"}`;
    if (parent) parent.after(divider);
    if (stick) threadBody.scrollTop = threadBody.scrollHeight;
  }

  function openThread(ts) {
    openTs = ts;
    thread.hidden = false;
    document.body.classList.add("has-thread");
    history.replaceState(null, "", `#thread=${ts}`);
    threadBody.replaceChildren();
    refreshThread();
  }

  function closeThread() {
    openTs = null;
    thread.hidden = true;
    document.body.classList.remove("has-thread");
    history.replaceState(null, "", location.pathname);
  }

  async function click(button) {
    const msg = button.closest("[data-ts]");
    if (!msg) return;
    button.disabled = true;
    const isEphemeral = msg.classList.contains("msg-ephemeral-body");
    const parentTs = msg.closest("#thread") ? openTs : msg.dataset.ts;
    if (!isEphemeral && parentTs !== openTs) awaitingThread = parentTs;
    try {
      await post("/api/click", {
        channel: msg.dataset.channel,
        ts: msg.dataset.ts,
        action_id: button.dataset.actionId,
        block_id: button.dataset.blockId || "",
      });
    } catch (error) {
      awaitingThread = null;
      say(composerStatus, `Click failed: ${error.message}`, "error");
    } finally {
      setTimeout(() => { button.disabled = false; }, 600);
    }
  }

  // -- live updates --------------------------------------------------------------------------
  let pending = null;
  function schedule(fn) {
    if (pending) return;
    pending = setTimeout(() => { pending = null; fn(); }, 60);
  }
  function refreshAll() {
    refreshChannel();
    refreshThread();
  }

  const events = new EventSource("/api/events");
  events.addEventListener("hello", () => schedule(refreshAll));
  events.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.ephemeral_for && event.ephemeral_for !== document.body.dataset.user) return;
    if (event.channel !== channel) {
      const link = document.querySelector(`.channel-link[data-channel="${CSS.escape(event.channel)}"]`);
      if (link && event.kind === "posted") link.classList.add("unread");
      return;
    }
    if (event.kind === "posted") say(composerStatus, "");
    schedule(refreshAll);
    if (event.kind === "posted" && event.thread_ts && event.thread_ts === awaitingThread) {
      awaitingThread = null;
      openThread(event.thread_ts);
    }
  };

  // -- user input ------------------------------------------------------------------------------
  document.addEventListener("click", (e) => {
    const target = e.target.closest("button, [data-open-thread]");
    if (!target) return;
    if (target.dataset.openThread) {
      openThread(target.dataset.openThread);
    } else if (target.classList.contains("thread-close")) {
      closeThread();
    } else if (target.dataset.command) {
      input.value = target.dataset.command;
      input.focus();
    } else if (target.dataset.actionId && target.closest(".msg")) {
      click(target);
    }
  });

  document.addEventListener("change", (e) => {
    if (e.target.matches(".msg select")) {
      say(composerStatus, "Menus are shown as Slack would show them; only buttons are sent in the sandbox.");
    }
  });

  composer.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (!text.startsWith("/")) {
      say(composerStatus, "The bot answers slash commands: try /clusters latest or /clusters help.", "error");
      return;
    }
    say(composerStatus, `Sent ${text}`);
    input.value = "";
    try {
      const result = await post("/api/command", { channel, text });
      if (!result.ok) say(composerStatus, `The bot answered HTTP ${result.status}.`, "error");
    } catch (error) {
      say(composerStatus, error.message, "error");
      input.value = text;
    }
  });

  nextRun.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(nextRun));
    const button = nextRun.querySelector("button[type=submit]");
    button.disabled = true;
    say(nextRunStatus, "Emitting…");
    try {
      const result = await post("/api/next-run", data);
      const what = result.change === "none" ? "no planted change" : result.change.replace("_", " ");
      say(nextRunStatus, `Emitted a run of ${result.job_name} (${what}); the bot is checking.`, "ok");
    } catch (error) {
      say(nextRunStatus, error.message, "error");
    } finally {
      button.disabled = false;
    }
  });

  document.getElementById("check-now").addEventListener("click", async () => {
    try {
      await post("/api/check-now", {});
      say(nextRunStatus, "Checking PostHog for new runs…", "ok");
    } catch (error) {
      say(nextRunStatus, error.message, "error");
    }
  });

  // -- start -------------------------------------------------------------------------------------
  localizeTimes(document);
  list.scrollTop = list.scrollHeight;
  const fromHash = /^#thread=([0-9.]+)$/.exec(location.hash);
  if (fromHash) openThread(fromHash[1]);
})();
