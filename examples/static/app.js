// The api example's script: fetches a user and a page of posts and shows them. Over the
// compression middleware's 1 KiB minimum, so `Accept-Encoding: gzip` gets a compressed answer.
"use strict";

/** Fetches `path` as JSON, or throws with the server's `{"error": …}` message. */
async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) {
    throw new Error(`${response.status}: ${body.error ?? "request failed"}`);
  }
  return body;
}

/** Writes `value` into the element `id`, as indented JSON. */
function show(id, value) {
  const element = document.getElementById(id);
  element.textContent = typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/** Shows the user `id`, or why it could not be fetched. */
async function showUser(id) {
  try {
    show("user", await getJson(`/users/${id}`));
  } catch (error) {
    show("user", `could not fetch user ${id}: ${error.message}`);
  }
}

/** Shows a page of posts below the user, when the page has an element for it. */
async function showPosts(page) {
  if (!document.getElementById("posts")) {
    return;
  }
  try {
    show("posts", await getJson(`/posts/${page}`));
  } catch (error) {
    show("posts", `could not fetch page ${page}: ${error.message}`);
  }
}

showUser(42);
showPosts(1);
