// Script of token2go's pages (body data-page="index" or "paste"). A file of its own because the
// pages' Content-Security-Policy forbids inline script. Hand-written, no framework. Everything
// the server sends is written with textContent or value, never parsed as HTML. Nothing here
// sends the token anywhere: the JWT claims are decoded in the page and never verified.
"use strict";

(function () {
  const byId = (id) => document.getElementById(id);

  // Copies text. The asynchronous clipboard API needs a secure context (plain http on a
  // non-loopback host is not one); elsewhere, or when it refuses, execCommand("copy") with a copy
  // event that supplies the text: it needs the click's user activation, nothing is selected.
  function copyText(text) {
    function legacy() {
      let supplied = false;
      const supply = (event) => {
        event.clipboardData.setData("text/plain", text);
        event.preventDefault();
        supplied = true;
      };
      document.addEventListener("copy", supply);
      let done = false;
      try {
        done = document.execCommand("copy");
      } catch (_) {
        done = false;
      }
      document.removeEventListener("copy", supply);
      return done && supplied;
    }
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(() => true, legacy);
    }
    return Promise.resolve(legacy());
  }

  function say(message, kind) {
    const status = byId("status");
    status.textContent = message;
    status.classList.toggle("ok", kind === "ok");
    status.classList.toggle("warn", kind === "warn");
  }

  // localStorage can be missing or throw (storage disabled): preferences then last one visit.
  const store = {
    get(key) {
      try {
        return window.localStorage.getItem(key);
      } catch (_) {
        return null;
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(key, value);
      } catch (_) {
        // Not saved; the switch still works for this visit.
      }
    },
  };

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

  // What is left until expiry, for the countdown: "35 s", "42 min", "2 h 5 min", "3 d 4 h".
  function remaining(ms) {
    const s = Math.ceil(ms / 1000);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
    const d = Math.floor(h / 24);
    return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
  }

  // The claims of a JWS compact token (header.payload.signature), decoded only. Returns
  // { claims }, { note } for a token whose claims cannot be read, or null for no JWT.
  function decodeJwt(secret) {
    const parts = secret.split(".");
    if (parts.length === 5) {
      return { note: "This token is an encrypted JWT (JWE): only its audience can read its claims." };
    }
    if (parts.length !== 3 || !/^[A-Za-z0-9_-]+=*$/.test(parts[1])) return null;
    try {
      let b64 = parts[1].replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
      while (b64.length % 4) b64 += "=";
      const binary = window.atob(b64);
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
      const claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      if (claims && typeof claims === "object" && !Array.isArray(claims)) return { claims };
    } catch (_) {
      // Not base64url or not JSON: not a JWT we can read.
    }
    return null;
  }

  // Single-quotes a word for POSIX shells unless it is made of characters that need none.
  function shellQuote(word) {
    return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
  }

  // The token as the forms show it: its start and end, so the lines stay readable.
  function shorten(token) {
    return token.length > 28 ? `${token.slice(0, 16)}\u2026${token.slice(-8)}` : token;
  }

  function initIndex() {
    const body = document.body;
    const secret = byId("secret");
    const fingerprint = byId("fingerprint");
    const expires = byId("expires");
    const timestamp = byId("timestamp");
    const tokenBox = byId("token");
    const copy = byId("copy");
    const reload = byId("reload");
    const remove = byId("delete");
    const countdown = byId("countdown");
    const reloadExpired = byId("reload-expired");
    const autoCopy = byId("auto-copy");
    const autoDelete = byId("auto-delete");
    const delay = byId("auto-delete-delay");
    const pending = byId("auto-delete-status");
    const cancelDelete = byId("cancel-delete");
    // The operator's URL for the curl line, or the server's placeholder (src/server/page.rs).
    const exampleUrl = body.dataset.exampleUrl;
    // This server as the client reaches it: the folder of this page, so a gateway's path
    // prefix is kept; query and fragment are dropped.
    const serverUrl = new URL(".", document.baseURI).href;
    const clientCommand = `token2go ${shellQuote(serverUrl)}`;

    let current = null; // the token shown: { secret, expiresAt, claims }
    let deleteTimer = null;

    // The forms people paste: where each is shown, its copy button, the whole line it copies,
    // what it shows (text and classed spans), the message after copying; `always` when it
    // needs no token.
    const forms = [
      {
        box: byId("form-header"),
        button: byId("copy-header"),
        line: (t) => `Authorization: Bearer ${t}`,
        show: (t) => ["Authorization: Bearer ", [shorten(t), "tok"]],
        copied: "Header line copied to the clipboard.",
      },
      {
        box: byId("form-curl"),
        button: byId("copy-curl"),
        // The configuration allows no quote in the URL: single quotes always suffice.
        line: (t) => `curl -H ${shellQuote(`Authorization: Bearer ${t}`)} '${exampleUrl}'`,
        show: (t) => ["curl -H 'Authorization: Bearer ", [shorten(t), "tok"], "' '", [exampleUrl, "url"], "'"],
        copied: "curl command copied to the clipboard.",
      },
      {
        box: byId("form-client"),
        button: byId("copy-client"),
        line: () => clientCommand,
        show: () => ["token2go ", [shellQuote(serverUrl), "url"]],
        copied: "Client command copied to the clipboard.",
        always: true,
      },
    ];

    function render(box, pieces) {
      box.textContent = "";
      for (const piece of pieces) {
        if (typeof piece === "string") {
          box.append(piece);
        } else {
          const span = document.createElement("span");
          span.className = piece[1];
          span.textContent = piece[0];
          box.append(span);
        }
      }
    }

    // Without a token the forms keep the room a shortened token takes (see shorten).
    const WAITING = "\u00b7".repeat(25);

    function showForms() {
      for (const form of forms) {
        const usable = form.always || current !== null;
        render(form.box, form.show(current ? current.secret : WAITING));
        form.box.querySelectorAll(".tok").forEach((e) => e.classList.toggle("wait", !current));
        form.button.disabled = !usable;
      }
    }

    // Claims ----------------------------------------------------------------------------
    const claimRows = ["sub", "aud", "iss", "scope", "roles", "iat", "exp"];

    function list(value) {
      if (Array.isArray(value)) return value.map(String);
      if (typeof value === "string") return value.split(/\s+/).filter(Boolean);
      return [];
    }

    function chips(cell, items) {
      const ul = document.createElement("ul");
      ul.className = "chips";
      for (const item of items) {
        const li = document.createElement("li");
        li.textContent = item;
        ul.append(li);
      }
      cell.append(ul);
    }

    function when(seconds) {
      if (typeof seconds !== "number" || !isFinite(seconds)) return String(seconds);
      const date = new Date(seconds * 1000);
      return isNaN(date) ? String(seconds) : `${date.toLocaleString()} (${relative(date)})`;
    }

    function showClaims(secret) {
      const decoded = secret === null ? null : decodeJwt(secret);
      const claims = decoded && decoded.claims ? decoded.claims : null;
      if (current) current.claims = claims;
      for (const name of claimRows) {
        const cell = byId(`claim-${name}`);
        cell.textContent = "";
        if (!claims) {
          cell.textContent = "\u2014";
          continue;
        }
        const has = (key) => Object.prototype.hasOwnProperty.call(claims, key);
        if (name === "sub") {
          const who = ["preferred_username", "email", "upn", "name"].find(
            (key) => typeof claims[key] === "string" && claims[key] !== claims.sub);
          const sub = has("sub") ? String(claims.sub) : "\u2014";
          cell.textContent = who ? `${sub} (${claims[who]})` : sub;
        } else if (name === "aud" || name === "iss") {
          cell.textContent = has(name) ? list(claims[name]).join(", ") || "\u2014" : "\u2014";
        } else if (name === "scope") {
          const scopes = list(claims.scope).concat(list(claims.scp));
          if (scopes.length) chips(cell, scopes);
          else cell.textContent = "\u2014";
        } else if (name === "roles") {
          const realm = claims.realm_access && typeof claims.realm_access === "object"
            ? list(claims.realm_access.roles) : [];
          const roles = list(claims.roles).concat(realm);
          if (roles.length) chips(cell, roles);
          else cell.textContent = "\u2014";
        } else {
          cell.textContent = has(name) ? when(claims[name]) : "\u2014";
        }
      }
      const note = byId("claims-note");
      if (claims) {
        note.textContent = "Decoded in this page from the token itself: nothing is verified and nothing is sent anywhere.";
      } else if (decoded && decoded.note) {
        note.textContent = decoded.note;
      } else if (secret !== null) {
        note.textContent = "This token is not a JWT: it carries no claims that a page can read.";
      } else {
        note.textContent = "Decoded in this page from the token itself: nothing is verified and nothing is sent anywhere.";
      }
      byId("claims-json").textContent = claims ? JSON.stringify(claims, null, 2) : "\u2014";
    }

    // Keeps "(18 minutes ago)" and "(in 42 minutes)" of the claims current.
    function showClaimTimes() {
      const claims = current && current.claims;
      if (!claims) return;
      for (const name of ["iat", "exp"]) {
        if (Object.prototype.hasOwnProperty.call(claims, name)) {
          byId(`claim-${name}`).textContent = when(claims[name]);
        }
      }
    }

    // Expiry ----------------------------------------------------------------------------
    function showExpiry() {
      const expiresAt = current && current.expiresAt;
      if (!expiresAt) {
        expires.textContent = current ? "not stated by the token" : "\u2026";
        expires.classList.remove("expired");
        countdown.hidden = true;
        reloadExpired.hidden = true;
        return;
      }
      const left = expiresAt.getTime() - Date.now();
      const past = left <= 0;
      expires.textContent = `${expiresAt.toLocaleString()} (${past ? "expired " : ""}${relative(expiresAt)})`;
      expires.classList.toggle("expired", past);
      countdown.textContent = past ? "expired" : `expires in ${remaining(left)}`;
      countdown.classList.toggle("expired", past);
      countdown.classList.toggle("soon", !past && left < 5 * 60 * 1000);
      countdown.hidden = false;
      reloadExpired.hidden = !past;
    }

    // Auto-delete -----------------------------------------------------------------------
    const IDLE = "Both switches are saved in this browser only.";

    function stopAutoDelete() {
      if (deleteTimer !== null) window.clearInterval(deleteTimer);
      deleteTimer = null;
      pending.textContent = IDLE;
      pending.classList.remove("counting");
      cancelDelete.hidden = true;
    }

    function startAutoDelete() {
      stopAutoDelete();
      const seconds = Number(delay.value);
      const at = Date.now() + seconds * 1000;
      const tick = () => {
        const left = Math.ceil((at - Date.now()) / 1000);
        if (left > 0) {
          pending.textContent = `Deleting the token from this page in ${left} s.`;
          return;
        }
        stopAutoDelete();
        clear();
        say(`Token deleted from this page after ${seconds} s. Reload fetches it again.`);
      };
      tick();
      pending.classList.add("counting");
      cancelDelete.hidden = false;
      deleteTimer = window.setInterval(tick, 250);
    }

    // The token -------------------------------------------------------------------------
    function clear() {
      stopAutoDelete();
      current = null;
      secret.value = "";
      fingerprint.textContent = "";
      timestamp.textContent = "";
      tokenBox.hidden = true;
      copy.disabled = true;
      remove.disabled = true;
      showExpiry();
      showForms();
      showClaims(null);
    }

    function hideError() {
      byId("error").hidden = true;
    }

    // title: what happened; help: what to do; reason: the server's own words (444 and other
    // errors); headers: the names a 444 lists.
    function showError(title, help, reason, headers) {
      byId("error-title").textContent = title;
      byId("error-help").textContent = help || "";
      byId("error-help").hidden = !help;
      const list = byId("error-headers");
      list.textContent = "";
      for (const name of headers || []) {
        const li = document.createElement("li");
        li.textContent = name;
        list.append(li);
      }
      list.hidden = !headers || headers.length === 0;
      byId("echo-hint").hidden = !(headers && body.dataset.echo === "true");
      byId("error-text").textContent = reason || "";
      byId("error-text").parentElement.hidden = !reason;
      byId("error").hidden = false;
    }

    // Without a token to use, the cards about using it are noise: hidden while the server
    // says there is none, back with the next token.
    function showTokenCards(visible) {
      byId("use").hidden = !visible;
      byId("claims-card").hidden = !visible;
    }

    function show(data) {
      hideError();
      showTokenCards(true);
      const exp = typeof data.expiresAt === "string" ? new Date(data.expiresAt) : null;
      current = { secret: data.secret, expiresAt: exp && !isNaN(exp) ? exp : null };
      secret.value = data.secret;
      fingerprint.textContent = typeof data.fingerprint === "string" ? data.fingerprint : "";
      const fetched = new Date(data.timestamp);
      timestamp.textContent = isNaN(fetched) ? String(data.timestamp || "") : fetched.toLocaleString();
      showExpiry();
      showForms();
      showClaims(data.secret);
      tokenBox.hidden = false;
      copy.disabled = false;
      remove.disabled = false;
      if (current.expiresAt && current.expiresAt.getTime() <= Date.now()) {
        say("Token loaded, but it has expired.", "warn");
      } else {
        say("Token loaded.", "ok");
      }
      if (autoDelete.checked) startAutoDelete();
      else stopAutoDelete();
      if (autoCopy.checked) copyOnLoad(data.secret);
    }

    // Auto-copy has no click behind it: the browser may refuse (no focus, no permission).
    // Then the page asks for the click instead; nothing is thrown.
    function copyOnLoad(text) {
      const attempt = navigator.clipboard && window.isSecureContext
        ? navigator.clipboard.writeText(text).then(() => true, () => false)
        : Promise.resolve(false);
      attempt.then((ok) => {
        if (!current || current.secret !== text) return;
        if (ok) say("Token loaded and copied to the clipboard.", "ok");
        else say("Token loaded. Click Copy to copy.", "warn");
      });
    }

    // The 444 body is "Token not found. Looking for: A, B, C".
    function headerNames(text) {
      const marker = "Looking for:";
      const at = text.indexOf(marker);
      if (at < 0) return [];
      return text.slice(at + marker.length).split(",").map((n) => n.trim()).filter(Boolean);
    }

    async function load() {
      reload.disabled = true;
      reloadExpired.disabled = true;
      say(current ? "Reloading the token\u2026" : "Loading the token\u2026");
      // Until a new token arrives, the old one stays on screen.
      const keepOld = (title, help) => {
        showError(title, help);
        if (current) say(`Still showing the token fetched at ${timestamp.textContent}.`, "warn");
        else say("");
      };
      let response;
      try {
        // Relative URL: works at / and behind a gateway's path prefix alike. A redirect is
        // not followed: behind a gateway it means "sign in again", not "here is the token".
        response = await fetch("token", {
          cache: "no-store",
          credentials: "same-origin",
          redirect: "manual",
          headers: { Accept: "application/json" },
        });
      } catch (_) {
        keepOld(
          "Could not reach the service.",
          "The network failed or the service is down. Check the connection, then Reload.",
        );
        reload.disabled = false;
        reloadExpired.disabled = false;
        return;
      }
      try {
        if (response.type === "opaqueredirect") {
          keepOld(
            "The gateway wants you to sign in again.",
            "It answered with a redirect instead of the token. Reload this whole page (F5) to sign in.",
          );
        } else if (response.ok) {
          let data = null;
          try {
            data = await response.json();
          } catch (_) {
            data = null;
          }
          if (data && typeof data.secret === "string") {
            show(data);
          } else {
            keepOld(
              "The answer was not a token.",
              "Something between you and the service answered in its place, perhaps a sign-in page. Reload this whole page (F5).",
            );
          }
        } else {
          const text = (await response.text()).trim().slice(0, 500);
          clear();
          showTokenCards(false);
          if (response.status === 444) {
            const names = headerNames(text);
            showError(
              "No token available.",
              names.length
                ? "The gateway in front of this service passed no token. The service looked in these request headers, in this order:"
                : "The gateway in front of this service passed no token.",
              text,
              names,
            );
          } else {
            showError(`The service answered with an error (HTTP ${response.status}).`, "", text);
          }
          say("");
        }
      } catch (_) {
        keepOld("The answer could not be read.", "Try Reload.");
      } finally {
        reload.disabled = false;
        reloadExpired.disabled = false;
      }
    }

    // Wiring ----------------------------------------------------------------------------
    function copyAndSay(text, button, done) {
      copyText(text).then(
        (ok) => {
          if (ok) {
            say(done, "ok");
            button.classList.add("copied");
            button.textContent = "Copied";
            window.setTimeout(() => {
              button.textContent = "Copy";
              button.classList.remove("copied");
            }, 1500);
          } else {
            say("Copying failed: select the text and copy it by hand.", "warn");
          }
        },
        () => say("Copying failed: select the text and copy it by hand.", "warn"),
      );
    }

    copy.addEventListener("click", () => {
      if (current) copyAndSay(current.secret, copy, "Token copied to the clipboard.");
    });
    for (const form of forms) {
      form.button.addEventListener("click", () => {
        if (form.always || current) copyAndSay(form.line(current ? current.secret : ""), form.button, form.copied);
      });
    }
    reload.addEventListener("click", load);
    reloadExpired.addEventListener("click", load);
    remove.addEventListener("click", () => {
      clear();
      say("Token removed from this page. Reload fetches it again.");
    });
    cancelDelete.addEventListener("click", () => {
      stopAutoDelete();
      say("Automatic deletion cancelled for this token.");
      copy.focus();
    });

    autoCopy.checked = store.get("autoCopy") === "true";
    autoDelete.checked = store.get("autoDelete") === "true";
    const savedDelay = store.get("autoDeleteDelay");
    if (Array.from(delay.options).some((o) => o.value === savedDelay)) delay.value = savedDelay;
    autoCopy.addEventListener("change", () => {
      store.set("autoCopy", String(autoCopy.checked));
      say(autoCopy.checked
        ? "Saved: the token is copied whenever it loads."
        : "Saved: the token is copied only when you click Copy.");
    });
    autoDelete.addEventListener("change", () => {
      store.set("autoDelete", String(autoDelete.checked));
      if (autoDelete.checked) {
        say(`Saved: the token is deleted from the page ${delay.value} s after it loads, from the next load on.`);
      } else {
        stopAutoDelete();
        say("Saved: the token stays on the page until you delete it.");
      }
    });
    delay.addEventListener("change", () => {
      store.set("autoDeleteDelay", delay.value);
      say(`Saved: ${delay.value} s before the token is deleted.`);
    });

    window.setInterval(() => {
      if (current && current.expiresAt) showExpiry();
    }, 1000);
    window.setInterval(showClaimTimes, 30000);
    showForms();
    load();
  }

  function initPaste() {
    const block = byId("block");
    byId("copy").addEventListener("click", () => {
      copyText(block.value).then((ok) =>
        say(ok ? "Copied. Paste it into your program." : "Copying failed: select the block and copy it by hand.", ok ? "ok" : "warn"));
    });
  }

  const page = document.body.dataset.page;
  if (page === "index") initIndex();
  if (page === "paste") initPaste();
})();
