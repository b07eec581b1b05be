import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, nsPath, prefetch, takePrefetched, whenUnauthorized } from "./api.js";
import { html } from "./html.js";
import { BuildConfigsPage } from "./pages/build-configs.js";
import { BuildConfigPage } from "./pages/build-config.js";
import { BuildPage } from "./pages/build.js";
import { DeploysPage } from "./pages/deploys.js";
import { GraphPage } from "./pages/graph.js";
import { ImageStreamsPage } from "./pages/image-streams.js";
import { LoginPage } from "./pages/login.js";
import { WebhooksPage } from "./pages/webhooks.js";

/** `#/ns/<ns>/<section>/<name>`: the console's pages, in the URL's fragment (reload and bookmarks keep them). */
function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== "ns" || !parts[1]) return { page: "home" };
  const [, ns, section = "buildconfigs", name] = parts;
  return { page: section, ns, name };
}

/** A link from outside (a commit status: `/console/ns/NS/builds/NAME`) becomes the page's own route. */
function routeFromPath() {
  const rest = location.pathname.replace(/^\/console\/?/, "");
  if (!location.hash && rest) history.replaceState(null, "", `/console/#/${rest}`);
}

function useRoute() {
  routeFromPath();
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

const sections = [
  ["buildconfigs", "BuildConfigs"],
  ["graph", "Chain graph"],
  ["imagestreams", "ImageStreams"],
  ["webhooks", "Webhook deliveries"],
  ["deploys", "Deploys"],
];

function App() {
  const [session, setSession] = useState(undefined);
  const route = useRoute();
  const loadSession = async () => {
    try {
      setSession(await (takePrefetched("/apis/v1/session") ?? api("/apis/v1/session")));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) setSession(null);
      else setSession({ error });
    }
  };
  useEffect(() => {
    whenUnauthorized(() => setSession(null));
    void loadSession();
  }, []);

  if (session === undefined) return html`<p class="muted">Loading Kiln…</p>`;
  if (session === null) return html`<${LoginPage} onLogin=${loadSession} />`;
  if (session.error)
    return html`<div class="error">Kiln is not answering: ${session.error.message}</div>`;

  const namespaces = session.namespaces.map((n) => n.name);
  const ns = route.ns ?? namespaces[0];
  if (route.page === "home" && ns) {
    location.replace(`#/ns/${encodeURIComponent(ns)}/buildconfigs`);
    return null;
  }
  const role = session.clusterAdmin
    ? "admin"
    : (session.namespaces.find((n) => n.name === ns)?.role ?? "none");
  const canChange = role === "admin" || role === "edit";
  const logout = async () => {
    await api("/console/logout", { method: "POST" });
    setSession(null);
  };
  return html`<div class="shell">
    <header class="top">
      <a class="brand" href="#/">Kiln</a>
      <label>
        Namespace
        <select
          data-testid="namespace"
          value=${ns}
          onChange=${(e) => (location.hash = `#/ns/${encodeURIComponent(e.target.value)}/${route.page === "home" ? "buildconfigs" : route.page}`)}
        >
          ${(namespaces.includes(ns) || !ns ? namespaces : [ns, ...namespaces]).map(
            (name) => html`<option value=${name}>${name}</option>`,
          )}
        </select>
      </label>
      <nav>
        ${sections.map(
          ([key, label]) =>
            html`<a
              class=${route.page === key ? "active" : ""}
              href=${`#/ns/${encodeURIComponent(ns ?? "")}/${key}`}
              >${label}</a
            >`,
        )}
      </nav>
      <span class="who" data-testid="subject">${session.subject} (${role})</span>
      <button type="button" onClick=${logout}>Log out</button>
    </header>
    <main>
      ${
        ns
          ? html`<${Page} route=${route} ns=${ns} canChange=${canChange} session=${session} />`
          : html`<p class="muted">This token has a role in no namespace yet.</p>`
      }
    </main>
  </div>`;
}

function Page({ route, ns, canChange, session }) {
  const props = { ns, name: route.name, canChange, session };
  switch (route.page) {
    case "buildconfigs":
      return route.name
        ? html`<${BuildConfigPage} ...${props} />`
        : html`<${BuildConfigsPage} ...${props} />`;
    case "builds":
      return html`<${BuildPage} ...${props} />`;
    case "graph":
      return html`<${GraphPage} ...${props} />`;
    case "imagestreams":
      return html`<${ImageStreamsPage} ...${props} />`;
    case "webhooks":
      return html`<${WebhooksPage} ...${props} />`;
    case "deploys":
      return html`<${DeploysPage} ...${props} />`;
    default:
      return html`<div class="error">No such page: ${route.page}</div>`;
  }
}

// The session and the named page's lists are asked for at once, before anything renders.
routeFromPath();
prefetch("/apis/v1/session");
const first = parseRoute(location.hash);
if (first.ns && first.page === "buildconfigs" && !first.name) {
  prefetch(nsPath(first.ns, "/buildconfigs"));
  prefetch(nsPath(first.ns, "/builds"));
}

render(html`<${App} />`, document.getElementById("root"));
