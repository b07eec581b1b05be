import { useState } from "preact/hooks";
import { api, nsPath } from "../api.js";
import { useBuilds } from "../builds.js";
import { ago, CopyButton, duration, ErrorBox, href, Phase, shortDigest } from "../format.js";
import { useResource } from "../hooks.js";
import { html } from "../html.js";

const webhookTypes = {
  GitHub: "github",
  GitLab: "gitlab",
  Bitbucket: "bitbucket",
  Gitea: "gitea",
  Generic: "generic",
};

/** One BuildConfig: what it builds from and to, its triggers and webhook URLs, its history, Start. */
export function BuildConfigPage({ ns, name, canChange, session }) {
  const bc = useResource(nsPath(ns, `/buildconfigs/${encodeURIComponent(name)}`), {
    ns,
    refreshOn: () => false,
  });
  const builds = useBuilds(ns, name);
  const [started, setStarted] = useState(null);
  const start = async () => {
    try {
      const build = await api(nsPath(ns, `/buildconfigs/${encodeURIComponent(name)}/instantiate`), {
        method: "POST",
        body: "{}",
      });
      setStarted({ build });
      if (build.metadata) location.hash = href(ns, "builds", build.metadata.name);
    } catch (error) {
      setStarted({ error });
    }
  };
  if (bc.error) return html`<${ErrorBox} error=${bc.error} />`;
  if (!bc.data) return html`<p class="muted">Loading…</p>`;
  const spec = bc.data.spec;
  const source = spec.source ?? {};
  const strategy = spec.strategy ?? {};
  const from =
    strategy.sourceStrategy?.from ?? strategy.dockerStrategy?.from ?? strategy.customStrategy?.from;
  const base = session.webhookUrl ?? "";
  return html`<section>
    <h1>BuildConfig ${ns}/${name}</h1>
    ${canChange ? html`<button type="button" class="primary" data-testid="start-build" onClick=${start}>Start build</button>` : null}
    <${ErrorBox} error=${started?.error} />
    <dl class="facts">
      <dt>Source</dt>
      <dd>
        ${source.git ? html`<code>${source.git.uri}</code>${source.git.ref ? ` @ ${source.git.ref}` : ""}${source.contextDir ? ` (dir ${source.contextDir})` : ""}` : source.binary ? "Binary (uploaded by kiln start-build --from-…)" : source.dockerfile ? "Inline Dockerfile" : (source.type ?? "—")}
      </dd>
      <dt>Strategy</dt>
      <dd>
        ${strategy.type}${from ? html` from <code>${from.kind} ${from.namespace ? `${from.namespace}/` : ""}${from.name}</code>` : null}
      </dd>
      <dt>Output</dt>
      <dd>
        ${spec.output?.to ? html`<code>${spec.output.to.kind} ${spec.output.to.name}</code>` : "—"}
      </dd>
      <dt>Run policy</dt>
      <dd>${spec.runPolicy ?? "Serial"}</dd>
      <dt>Triggers</dt>
      <dd>
        <ul class="plain">
          ${(spec.triggers ?? []).map((t) => html`<li>${triggerText(t)}</li>`)}
        </ul>
      </dd>
    </dl>
    <${Webhooks} triggers=${spec.triggers ?? []} ns=${ns} name=${name} base=${base} />
    <h2>History</h2>
    <${ErrorBox} error=${builds.error} />
    <table data-testid="history">
      <thead>
        <tr>
          <th>Build</th>
          <th>Status</th>
          <th>Cause</th>
          <th>Started</th>
          <th>Duration</th>
          <th>Image</th>
        </tr>
      </thead>
      <tbody>
        ${builds.items.map(
          (b) =>
            html`<tr data-build=${b.metadata.name}>
              <td><a href=${href(ns, "builds", b.metadata.name)}>${b.metadata.name}</a></td>
              <td><${Phase} phase=${b.status.phase} /></td>
              <td>${b.spec.triggeredBy?.[0]?.message ?? ""}</td>
              <td>${ago(b.status.startTimestamp ?? b.metadata.creationTimestamp)}</td>
              <td>${duration(b.status.durationMs)}</td>
              <td><code>${shortDigest(b.status.output?.digest)}</code></td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function triggerText(trigger) {
  switch (trigger.type) {
    case "ImageChange": {
      const from = trigger.imageChange?.from;
      return from
        ? `ImageChange of ${from.namespace ? `${from.namespace}/` : ""}${from.name}`
        : "ImageChange of the strategy's image";
    }
    case "ConfigChange":
      return "ConfigChange";
    default:
      return `${trigger.type} webhook`;
  }
}

/** Webhook URLs with copy buttons; the secret is never shown (`<secret>` where OpenShift's URL carries it). */
function Webhooks({ triggers, ns, name, base }) {
  const hooks = triggers.filter((t) => webhookTypes[t.type]);
  if (hooks.length === 0) return null;
  const enc = encodeURIComponent;
  return html`<h2>Webhooks</h2>
    <table data-testid="webhooks">
      <thead>
        <tr>
          <th>Provider</th>
          <th>URL</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${hooks.flatMap((t) => {
          const path = webhookTypes[t.type];
          const kiln = `${base}/hooks/${enc(ns)}/${enc(name)}/${path}`;
          const openshift = `${base}/apis/build.openshift.io/v1/namespaces/${enc(ns)}/buildconfigs/${enc(name)}/webhooks/<secret>/${path}`;
          return [
            html`<tr>
              <td>${t.type}</td>
              <td><code>${kiln}</code></td>
              <td><${CopyButton} text=${kiln} /></td>
            </tr>`,
            html`<tr>
              <td>${t.type} (OpenShift URL)</td>
              <td><code>${openshift}</code></td>
              <td><${CopyButton} text=${openshift} /></td>
            </tr>`,
          ];
        })}
      </tbody>
    </table>`;
}
