// The pages' behaviour: forms post JSON to the API and show its messages. No inline script
// anywhere (the Content-Security-Policy forbids it); one file, no dependencies.
"use strict";

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

function fail(message) {
  const box = document.getElementById("error");
  show(box, message);
  if (message) box.focus();
}

async function callJson(method, path, body) {
  const resp = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  if (resp.status !== 204) {
    try { data = await resp.json(); } catch (e) { data = {}; }
  }
  return { status: resp.status, data };
}

async function postJson(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
  let data = {};
  if (resp.status !== 204) {
    try { data = await resp.json(); } catch (e) { data = {}; }
  }
  return { status: resp.status, data };
}

function messageOf(data) {
  if (data.validations && data.validations.length) {
    return data.message + " " + data.validations.map((v) => v.detail).join(" ");
  }
  return data.message || "Something went wrong. Please try again.";
}

// The same rule as the server's safe_redirect: browsers drop tabs and newlines from URLs and
// read "\\" as "/", so any control character, whitespace or backslash refuses the target; what
// is left must resolve to this page's own origin.
function safePath(path) {
  if (!path || !path.startsWith("/") || path.startsWith("//")) return "/";
  if (/[\u0000-\u0020\u007f-\u009f\\]|\s/.test(path)) return "/";
  try {
    const url = new URL(path, window.location.origin);
    return url.origin === window.location.origin ? url.pathname + url.search + url.hash : "/";
  } catch (e) {
    return "/";
  }
}

async function busy(form, work) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try { await work(); } catch (e) { fail("The service could not be reached. Please try again."); }
  finally { button.disabled = false; }
}

const pages = {
  login() {
    const form = document.getElementById("login-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(form, async () => {
        fail("");
        const { status, data } = await postJson("/api/v2/users/login", {
          email: form.email.value.trim(),
          password: form.password.value,
        });
        if (status === 201) {
          window.location.assign(safePath(form.dataset.redirect));
        } else {
          fail(messageOf(data));
        }
      });
    });
  },

  home() {
    document.getElementById("sign-out").addEventListener("click", async () => {
      try {
        await postJson("/api/v2/users/logout", {});
      } finally {
        window.location.assign("/login");
      }
    });
  },

  reset() {
    const form = document.getElementById("reset-form");
    const notice = document.getElementById("notice");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(form, async () => {
        fail("");
        show(notice, "");
        const { status, data } = await postJson("/api/v2/users/otp/request", {
          email: form.email.value.trim(),
        });
        if (status === 204) {
          show(notice, "If an account exists for that address, a code is on its way. Check your email.");
        } else {
          fail(messageOf(data));
        }
      });
    });
  },

  change() {
    const form = document.getElementById("change-form");
    const passwordError = document.getElementById("password-error");
    const confirmError = document.getElementById("confirm-error");
    // The passcode leaves the address bar at once (it is in the form's data now).
    window.history.replaceState(null, "", "/reset-password/change");
    function fieldError(input, box, text) {
      show(box, text);
      input.setAttribute("aria-invalid", text ? "true" : "false");
      if (text) input.focus();
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      fail("");
      fieldError(form.password, passwordError, "");
      fieldError(form.confirm, confirmError, "");
      if (form.password.value !== form.confirm.value) {
        fieldError(form.confirm, confirmError, "The two passwords do not match.");
        return;
      }
      busy(form, async () => {
        const { status, data } = await postJson("/api/v2/users/otp/change-password", {
          email: form.dataset.email,
          one_time_passcode: form.dataset.otp,
          password: form.password.value,
        });
        if (status === 204) {
          window.location.assign("/login?reset=done");
        } else if (data.message === "Invalid password." && data.validations) {
          fieldError(form.password, passwordError, data.validations.map((v) => v.detail).join(" "));
        } else {
          fail(messageOf(data));
        }
      });
    });
  },
};

// The tokens page: every value from the API goes in with textContent, never as HTML.
const TOKENS_API = "/api/v2/users/me/keys/tokens";

function when(text) {
  if (!text || text.startsWith("0001-")) return "Never";
  const date = new Date(text);
  return isNaN(date) ? text : date.toLocaleString();
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

async function loadTokens() {
  const { status, data } = await callJson("GET", TOKENS_API);
  if (status !== 200) { fail(messageOf(data)); return; }
  const table = document.getElementById("tokens");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const token of data) {
    const row = document.createElement("tr");
    cell(row, token.token_name);
    cell(row, (token.scopes || []).join(", "));
    cell(row, when(token.created_at));
    cell(row, when(token.last_used));
    cell(row, when(token.expires_at));
    const actions = cell(row, "");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary danger";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", "Delete token " + token.token_name);
    remove.addEventListener("click", async () => {
      if (!window.confirm("Delete the token " + token.token_name + "? Anything using it stops working.")) return;
      remove.disabled = true;
      fail("");
      const result = await callJson("DELETE", "/api/v2/users/me/keys/" + encodeURIComponent(token.id));
      if (result.status === 204) await loadTokens();
      else { remove.disabled = false; fail(messageOf(result.data)); }
    });
    actions.appendChild(remove);
    body.appendChild(row);
  }
  table.hidden = data.length === 0;
  document.getElementById("empty").hidden = data.length !== 0;
}

pages.tokens = function tokens() {
  const form = document.getElementById("token-form");
  const created = document.getElementById("created");
  const keyField = document.getElementById("new-key");
  const copied = document.getElementById("copied");
  document.getElementById("copy-key").addEventListener("click", async () => {
    keyField.select();
    try { await navigator.clipboard.writeText(keyField.value); } catch (e) { document.execCommand("copy"); }
    copied.hidden = false;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      fail("");
      created.hidden = true;
      copied.hidden = true;
      const scopes = Array.from(form.querySelectorAll("input[name=scope]:checked")).map((box) => box.value);
      const body = { token_name: form.name.value.trim(), lifetime: Number(form.lifetime.value) * 1e9 };
      if (scopes.length) body.scopes = scopes;
      const { status, data } = await callJson("POST", TOKENS_API, body);
      if (status === 201) {
        keyField.value = data.key;
        created.hidden = false;
        created.focus();
        form.reset();
        await loadTokens();
      } else {
        fail(messageOf(data));
      }
    });
  });
  loadTokens().catch(() => fail("The service could not be reached. Please try again."));
};

document.addEventListener("DOMContentLoaded", () => {
  const page = pages[document.body.dataset.page];
  if (page) page();
});
