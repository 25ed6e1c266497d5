// The demo front end: plain JavaScript, no build step, talking to the Tasks API on another origin.
//
// Tokens: the refresh token is an HttpOnly cookie the API sets when a request carries
// `X-Token-Transport: cookie` (scripts cannot read it, so an XSS cannot steal it); the access token
// is kept in this module's memory only, and renewed before it expires. A reload starts with no
// access token: one refresh with the cookie brings the session back.

const API = `${(window.DEMO_CONFIG && window.DEMO_CONFIG.api) || "http://localhost:8001"}/api/v1`;
// Renew the access token this many seconds before it expires.
const REFRESH_MARGIN_SECONDS = 30;

let accessToken = null;
let refreshTimer = null;

const $ = (id) => document.getElementById(id);

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

function errorText(result) {
  const body = result.data || {};
  const fields = body.errors ? Object.values(body.errors).flat().join(" ") : "";
  return fields || body.detail || `The API answered ${result.status}.`;
}

// One request to the API. `cookie`: the refresh-cookie endpoints (credentials and the header).
async function api(path, { method = "GET", body, cookie = false, retry = true } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accessToken && !cookie) headers.Authorization = `Bearer ${accessToken}`;
  if (cookie) headers["X-Token-Transport"] = "cookie";
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: cookie ? "include" : "omit",
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  // An access token refused (expired, or its session ended elsewhere): refresh once and retry.
  if (response.status === 401 && !cookie && retry && accessToken) {
    if (await refresh()) return api(path, { method, body, retry: false });
  }
  return { ok: response.ok, status: response.status, data };
}

function useTokens(answer) {
  accessToken = answer.access_token;
  clearTimeout(refreshTimer);
  const delay = Math.max(5, answer.expires_in - REFRESH_MARGIN_SECONDS) * 1000;
  refreshTimer = setTimeout(refresh, delay);
}

async function refresh() {
  const result = await api("/auth/refresh", { method: "POST", body: {}, cookie: true });
  if (!result.ok) {
    forget();
    return false;
  }
  useTokens(result.data);
  return true;
}

function forget() {
  accessToken = null;
  clearTimeout(refreshTimer);
  $("signed-in").hidden = true;
  $("signed-out").hidden = false;
}

async function showSignedIn() {
  const me = await api("/users/me");
  if (!me.ok) return forget();
  $("me-email").textContent = me.data.email;
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  await Promise.all([loadTasks(), loadSessions()]);
}

async function loadTasks() {
  const result = await api("/tasks/?page_size=100&ordering=created_at");
  const list = $("tasks");
  list.replaceChildren();
  if (!result.ok) return say(errorText(result), true);
  for (const task of result.data.results) {
    const item = document.createElement("li");
    item.dataset.id = task.id;
    item.className = task.status === "done" ? "done" : "";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = task.title;
    item.append(title);
    if (task.status !== "done") {
      item.append(button("Complete", "complete", () => changeTask(task.id, "PATCH", { status: "done" })));
    }
    item.append(button("Delete", "delete", () => changeTask(task.id, "DELETE")));
    list.append(item);
  }
}

async function changeTask(id, method, body) {
  const result = await api(`/tasks/${id}/`, { method, body });
  if (!result.ok) say(errorText(result), true);
  await loadTasks();
}

async function loadSessions() {
  const result = await api("/auth/sessions");
  const list = $("sessions");
  list.replaceChildren();
  if (!result.ok) return;
  for (const session of result.data.results) {
    const item = document.createElement("li");
    item.dataset.id = session.id;
    const started = new Date(session.created_at).toLocaleString();
    item.textContent = `${session.current ? "This browser" : session.user_agent || "Unknown device"}, since ${started}`;
    item.append(button("End", "end-session", () => endSession(session)));
    list.append(item);
  }
}

async function endSession(session) {
  await api(`/auth/sessions/${session.id}/`, { method: "DELETE" });
  if (session.current) {
    await api("/auth/logout", { method: "POST", body: {}, cookie: true }); // drops the cookie
    forget();
    return say("This session has ended.");
  }
  await loadSessions();
}

function button(text, name, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.name = name;
  element.textContent = text;
  element.addEventListener("click", onClick);
  return element;
}

function onSubmit(id, handler) {
  $(id).addEventListener("submit", async (event) => {
    event.preventDefault();
    await handler(new FormData(event.target), event.target);
  });
}

onSubmit("login-form", async (form) => {
  const result = await api("/auth/login", {
    method: "POST",
    body: { username: form.get("email"), password: form.get("password") },
    cookie: true,
  });
  if (!result.ok) return say(errorText(result), true);
  useTokens(result.data);
  say("");
  await showSignedIn();
});

onSubmit("signup-form", async (form, element) => {
  const result = await api("/auth/signup", {
    method: "POST",
    body: { email: form.get("email"), password: form.get("password"), full_name: form.get("full_name") },
  });
  if (!result.ok) return say(errorText(result), true);
  element.reset();
  say("Check your mailbox: follow the link in the mail to finish signing up.");
});

onSubmit("resend-form", async (form) => {
  const result = await api("/auth/verify-email/resend", { method: "POST", body: { email: form.get("email") } });
  say(result.ok ? "If that account still needs it, a new link is on its way." : errorText(result), !result.ok);
});

onSubmit("task-form", async (form, element) => {
  const result = await api("/tasks/", { method: "POST", body: { title: form.get("title") } });
  if (!result.ok) return say(errorText(result), true);
  element.reset();
  await loadTasks();
});

onSubmit("email-form", async (form, element) => {
  const result = await api("/users/me", { method: "PATCH", body: { email: form.get("email") } });
  if (!result.ok) return say(errorText(result), true);
  element.reset();
  say("Check the new mailbox: the email changes when you follow the link sent there.");
});

onSubmit("delete-form", async (form) => {
  const result = await api("/users/me", { method: "DELETE", body: { password: form.get("password") } });
  if (!result.ok) return say(errorText(result), true);
  await api("/auth/logout", { method: "POST", body: {}, cookie: true }); // drops the cookie
  forget();
  say("Your account is deleted.");
});

$("logout").addEventListener("click", async () => {
  await api("/auth/logout", { method: "POST", body: {}, cookie: true });
  forget();
  say("Logged out.");
});

$("logout-all").addEventListener("click", async () => {
  await api("/auth/logout-all", { method: "POST" });
  await api("/auth/logout", { method: "POST", body: {}, cookie: true }); // drops the cookie
  forget();
  say("Logged out everywhere.");
});

// A mailed link opens this page at /verify-email or /confirm-email with ?uid=&token=.
async function followLink() {
  const query = new URLSearchParams(window.location.search);
  const link = { uid: query.get("uid"), token: query.get("token") };
  const path = window.location.pathname;
  if (!link.uid || !link.token) return false;
  if (path === "/verify-email") {
    window.history.replaceState(null, "", "/");
    const result = await api("/auth/verify-email", { method: "POST", body: link, cookie: true });
    if (!result.ok) {
      say(errorText(result), true);
      return false;
    }
    useTokens(result.data);
    say("Your email is verified: welcome!");
    return true;
  }
  if (path === "/confirm-email") {
    window.history.replaceState(null, "", "/");
    const result = await api("/auth/email-change/confirm", { method: "POST", body: link });
    say(result.ok ? `Your email is now ${result.data.email}.` : errorText(result), !result.ok);
  }
  return false;
}

async function start() {
  const signedIn = (await followLink()) || (await refresh());
  if (signedIn) await showSignedIn();
  else forget();
  document.body.dataset.ready = "true";
}

start();
