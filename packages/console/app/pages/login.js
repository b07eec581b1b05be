import { useState } from "preact/hooks";
import { api } from "../api.js";
import { html } from "../html.js";

/** The only thing the console shows without a valid token. */
export function LoginPage({ onLogin }) {
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const token = new FormData(event.target).get("token");
    try {
      await api("/console/login", { method: "POST", body: JSON.stringify({ token }) });
      setError(null);
      onLogin();
    } catch (e) {
      setError(e.message);
    }
  };
  return html`<form class="login" onSubmit=${submit} data-testid="login">
    <h1>Kiln</h1>
    <p>Log in with a Kiln token (<code>kiln create token</code>, or KILN_TOKEN in .kiln/env).</p>
    <input name="token" type="password" autocomplete="off" placeholder="kiln_…" required />
    <button type="submit">Log in</button>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
  </form>`;
}
