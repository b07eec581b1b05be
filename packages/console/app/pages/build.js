import { useState } from "preact/hooks";
import { api, nsPath } from "../api.js";
import { isTerminal, withLivePhase } from "../builds.js";
import { duration, ErrorBox, href, Phase, shortDigest } from "../format.js";
import { useEvents, useResource } from "../hooks.js";
import { html } from "../html.js";
import { LogView } from "../log-view.js";

/** One build: phase, steps, commit, pushed digest, why it ran, and its live log. */
export function BuildPage({ ns, name, canChange }) {
  const path = nsPath(ns, `/builds/${encodeURIComponent(name)}`);
  const isThis = (type, event) => type === "build" && event.name === name;
  const build = useResource(path, { ns, refreshOn: isThis });
  const steps = useResource(`${path}/steps`, { ns, refreshOn: isThis });
  const [live, setLive] = useState(new Map());
  useEvents(ns, (type, event) => {
    if (isThis(type, event)) setLive(new Map([[name, event]]));
  });
  const [action, setAction] = useState(null);

  if (build.error) return html`<${ErrorBox} error=${build.error} />`;
  if (!build.data) return html`<p class="muted">Loading…</p>`;
  const b = withLivePhase(build.data, live);
  const phase = b.status.phase;
  const bc = b.metadata.labels?.["kiln.dev/buildconfig"];
  const revision = b.spec.revision ?? {};
  const output = b.status.output;

  const cancel = async () => {
    try {
      await api(`${path}/cancel`, { method: "POST" });
      setAction({ done: "cancel requested" });
    } catch (error) {
      setAction({ error });
    }
  };
  const rerun = async () => {
    try {
      const body = revision.commit ? { commit: revision.commit } : {};
      const next = await api(nsPath(ns, `/buildconfigs/${encodeURIComponent(bc)}/instantiate`), {
        method: "POST",
        body: JSON.stringify(body),
      });
      if (next.metadata) location.hash = href(ns, "builds", next.metadata.name);
      else setAction({ done: "requested" });
    } catch (error) {
      setAction({ error });
    }
  };

  return html`<section>
    <h1>Build ${ns}/${name} <${Phase} phase=${phase} /></h1>
    <div class="actions">
      ${canChange && !isTerminal(phase) ? html`<button type="button" data-testid="cancel" onClick=${cancel}>Cancel</button>` : null}
      ${canChange && bc && !b.spec.source?.binary ? html`<button type="button" data-testid="rerun" onClick=${rerun}>Re-run</button>` : null}
      ${action?.done ? html`<span class="muted">${action.done}</span>` : null}
    </div>
    <${ErrorBox} error=${action?.error} />
    ${b.status.reason ? html`<p class="error" data-testid="reason"><strong>${b.status.reason}</strong>${b.status.message ? `: ${b.status.message}` : ""}</p>` : null}
    <dl class="facts">
      <dt>BuildConfig</dt>
      <dd>${bc ? html`<a href=${href(ns, "buildconfigs", bc)}>${bc}</a>` : "—"}</dd>
      <dt>Strategy</dt>
      <dd>${b.spec.strategy?.type}</dd>
      <dt>Commit</dt>
      <dd data-testid="commit">
        ${revision.commit ? html`<code>${revision.commit.slice(0, 12)}</code> ${revision.message ? `“${revision.message.split("\n")[0]}”` : ""} ${revision.author ? `by ${revision.author}` : ""}` : "—"}
      </dd>
      <dt>Image</dt>
      <dd data-testid="digest">
        ${output ? html`<code title=${output.imageReference}>${output.image ?? ""}@${output.digest}</code>` : "—"}
      </dd>
      <dt>Duration</dt>
      <dd>${duration(b.status.durationMs)}</dd>
      <dt>Cause</dt>
      <dd><${Causes} ns=${ns} causes=${b.spec.triggeredBy ?? []} /></dd>
    </dl>
    <h2>Steps</h2>
    <ol class="steps" data-testid="steps">
      ${(steps.data?.items ?? []).map((s) => html`<li><span>${s.step}</span> <span class="muted">${s.durationMs === undefined ? "running…" : duration(s.durationMs)}</span></li>`)}
    </ol>
    <h2>Log</h2>
    <${LogView} path=${`${path}/log`} phase=${phase} onStep=${() => void steps.reload()} />
  </section>`;
}

const imageChangePattern = /([^\s;:]+)\/([^\s;:]+):([^\s;]+) is now (sha256:[0-9a-f]{64})/g;

/** Why the build ran; for an image change, the build that pushed that image, linked. */
function Causes({ ns, causes }) {
  return html`<ul class="plain" data-testid="cause">
    ${causes.map((cause) => {
      if (cause.type !== "ImageChange") return html`<li>${cause.type}: ${cause.message}</li>`;
      const changes = [...cause.message.matchAll(imageChangePattern)];
      if (changes.length === 0) return html`<li>${cause.message}</li>`;
      return changes.map(
        ([, inNs, stream, tag, digest]) =>
          html`<li>
            image change of ${inNs}/${stream}:${tag}
            (<code>${shortDigest(digest)}</code>)<${PushedBy}
              ns=${inNs}
              stream=${stream}
              tag=${tag}
              digest=${digest}
              readable=${inNs === ns}
            />
          </li>`,
      );
    })}
  </ul>`;
}

function PushedBy({ ns, stream, tag, digest }) {
  const is = useResource(nsPath(ns, `/imagestreams/${encodeURIComponent(stream)}`));
  const item = is.data?.status?.tags
    ?.find((t) => t.tag === tag)
    ?.items?.find((i) => i.image === digest);
  if (!item) return null;
  if (item.build)
    return html`, pushed by build
      <a href=${href(ns, "builds", item.build)} data-testid="pushed-by">${item.build}</a>`;
  return html`, ${item.cause}${item.message ? ` (${item.message})` : ""}`;
}
