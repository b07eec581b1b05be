import { nsPath } from "../api.js";
import { ago, ErrorBox, href, Phase, shortDigest } from "../format.js";
import { useResource } from "../hooks.js";
import { html } from "../html.js";

const targetText = (t) => (t.type === "HTTP" ? t.url : `${t.kind} ${t.namespace}/${t.name}`);

/** Image changes rolled out to workloads, with their status. */
export function DeploysPage({ ns }) {
  const deploys = useResource(nsPath(ns, "/deploys?limit=200"), {
    ns,
    refreshOn: (type) => type === "deploy",
  });
  return html`<section>
    <h1>Deploys in ${ns}</h1>
    <${ErrorBox} error=${deploys.error} />
    <table data-testid="deploys">
      <thead>
        <tr>
          <th>When</th>
          <th>Target</th>
          <th>Image</th>
          <th>Status</th>
          <th>Cause</th>
        </tr>
      </thead>
      <tbody>
        ${(deploys.data?.items ?? []).map(
          (d) =>
            html`<tr>
              <td>${ago(d.metadata.creationTimestamp)}</td>
              <td>${targetText(d.spec.target)}</td>
              <td>${d.spec.imageStreamTag ?? ""} <code>${shortDigest(d.spec.digest)}</code></td>
              <td>
                <${Phase}
                  phase=${d.status?.phase}
                />${d.status?.message ? html`<div class="muted">${d.status.message}</div>` : null}
              </td>
              <td>
                ${d.spec.cause.type}${d.spec.cause.build ? html` of <a href=${href(ns, "builds", d.spec.cause.build)}>${d.spec.cause.build}</a>` : null}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
