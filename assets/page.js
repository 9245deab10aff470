// Script of token2go's pages (body data-page="index" or "paste"). A file of its own because the
// pages' Content-Security-Policy forbids inline script. Everything the server sends is written
// with textContent or value, never parsed as HTML.
"use strict";

(function () {
  const byId = (id) => document.getElementById(id);

  // Copies text; falls back to selecting the field and execCommand where the asynchronous
  // clipboard API is missing (it needs a secure context, and plain http is not one).
  function copyText(text, field) {
    function legacy() {
      field.focus();
      field.select();
      let done = false;
      try {
        done = document.execCommand("copy");
      } catch (_) {
        done = false;
      }
      field.setSelectionRange(0, 0);
      return done;
    }
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(() => true, legacy);
    }
    return Promise.resolve(legacy());
  }

  function say(message, ok) {
    const status = byId("status");
    status.textContent = message;
    status.classList.toggle("ok", Boolean(ok));
  }

  // "in 42 minutes", "3 hours ago": coarse on purpose, the exact time is shown beside it.
  function relative(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size || unit === "second") {
        const value = Math.round(seconds / size);
        if (typeof Intl !== "undefined" && Intl.RelativeTimeFormat) {
          return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(value, unit);
        }
        return value >= 0 ? `in ${value} ${unit}(s)` : `${-value} ${unit}(s) ago`;
      }
    }
    return "";
  }

  function initIndex() {
    const secret = byId("secret");
    const fingerprint = byId("fingerprint");
    const expires = byId("expires");
    const timestamp = byId("timestamp");
    const tokenBox = byId("token");
    const errorBox = byId("error");
    const errorText = byId("error-text");
    const copy = byId("copy");
    const reload = byId("reload");
    const remove = byId("delete");
    let expiresAt = null;

    function showExpiry() {
      if (!expiresAt) {
        expires.textContent = "not stated by the token";
        expires.classList.remove("expired");
        return;
      }
      const past = expiresAt.getTime() <= Date.now();
      expires.textContent = `${expiresAt.toLocaleString()} (${past ? "expired " : ""}${relative(expiresAt)})`;
      expires.classList.toggle("expired", past);
    }

    function clear() {
      secret.value = "";
      fingerprint.textContent = "";
      timestamp.textContent = "";
      expiresAt = null;
      tokenBox.hidden = true;
      copy.disabled = true;
      remove.disabled = true;
    }

    function show(data) {
      errorBox.hidden = true;
      secret.value = data.secret;
      fingerprint.textContent = typeof data.fingerprint === "string" ? data.fingerprint : "";
      const fetched = new Date(data.timestamp);
      timestamp.textContent = isNaN(fetched) ? String(data.timestamp || "") : fetched.toLocaleString();
      const exp = typeof data.expiresAt === "string" ? new Date(data.expiresAt) : null;
      expiresAt = exp && !isNaN(exp) ? exp : null;
      showExpiry();
      tokenBox.hidden = false;
      copy.disabled = false;
      remove.disabled = false;
      say("Token loaded.", true);
    }

    function fail(reason) {
      clear();
      errorText.textContent = reason;
      errorBox.hidden = false;
      say("");
    }

    async function load() {
      reload.disabled = true;
      say("Loading the token\u2026");
      try {
        // Relative URL: works at / and behind a gateway's path prefix alike.
        const response = await fetch("token", {
          cache: "no-store",
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (response.ok) {
          const data = await response.json();
          if (!data || typeof data.secret !== "string") {
            throw new Error("unexpected answer");
          }
          show(data);
        } else {
          const text = (await response.text()).trim();
          // 444 carries the server's plain-text reason (which header names it looked for).
          fail(response.status === 444 && text ? text : `The server answered ${response.status}. ${text}`.trim());
        }
      } catch (_) {
        fail("Could not load the token: the service did not answer as expected. Try Reload.");
      } finally {
        reload.disabled = false;
      }
    }

    copy.addEventListener("click", () => {
      copyText(secret.value, secret).then((ok) =>
        say(ok ? "Token copied to the clipboard." : "Copying failed: select the token and copy it by hand.", ok));
    });
    reload.addEventListener("click", load);
    remove.addEventListener("click", () => {
      clear();
      say("Token removed from this page. Reload fetches it again.");
    });
    window.setInterval(() => {
      if (expiresAt) showExpiry();
    }, 30000);
    load();
  }

  function initPaste() {
    const block = byId("block");
    byId("copy").addEventListener("click", () => {
      copyText(block.value, block).then((ok) =>
        say(ok ? "Copied. Paste it into your program." : "Copying failed: select the block and copy it by hand.", ok));
    });
  }

  const page = document.body.dataset.page;
  if (page === "index") initIndex();
  if (page === "paste") initPaste();
})();
