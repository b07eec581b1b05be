import { nsPath } from "../api.js";
import { lastBuilds, useBuilds } from "../builds.js";
import { ago, ErrorBox, href, Phase } from "../format.js";
import { useResource } from "../hooks.js";
import { html } from "../html.js";

/** A namespace's BuildConfigs with their last build, live. */
export function BuildConfigsPage({ ns }) {
  const configs = useResource(nsPath(ns, "/buildconfigs"), { ns, refreshOn: () => false });
  const builds = useBuilds(ns);
  const last = lastBuilds(builds.items);
  return html`<section>
    <h1>BuildConfigs in ${ns}</h1>
    <${ErrorBox} error=${configs.error ?? builds.error} />
    <table data-testid="buildconfigs">
      <thead>
        <tr>
          <th>Name</th>
          <th>Strategy</th>
          <th>Last build</th>
          <th>Status</th>
          <th>Started</th>
        </tr>
      </thead>
      <tbody>
        ${(configs.data?.items ?? []).map((bc) => {
          const build = last.get(bc.metadata.name);
          return html`<tr data-buildconfig=${bc.metadata.name}>
            <td><a href=${href(ns, "buildconfigs", bc.metadata.name)}>${bc.metadata.name}</a></td>
            <td>${bc.spec.strategy?.type}</td>
            <td>
              ${build ? html`<a href=${href(ns, "builds", build.metadata.name)}>${build.metadata.name}</a>` : "—"}
            </td>
            <td>${build ? html`<${Phase} phase=${build.status.phase} />` : ""}</td>
            <td>
              ${build ? ago(build.status.startTimestamp ?? build.metadata.creationTimestamp) : ""}
            </td>
          </tr>`;
        })}
      </tbody>
    </table>
    ${configs.data && configs.data.items.length === 0 ? html`<p class="muted">No BuildConfigs yet: <code>kiln apply -f</code> one, or <code>kiln new-build</code>.</p>` : null}
  </section>`;
}
