import { nsPath } from "../api.js";
import { ago, ErrorBox, href } from "../format.js";
import { useResource } from "../hooks.js";
import { html } from "../html.js";

/** Git webhook deliveries and what each did (`kiln events`). */
export function WebhooksPage({ ns }) {
  const deliveries = useResource(nsPath(ns, "/webhookdeliveries?limit=200"), {
    ns,
    refreshOn: (type) => type === "build",
  });
  return html`<section>
    <h1>Webhook deliveries in ${ns}</h1>
    <${ErrorBox} error=${deliveries.error} />
    <table data-testid="deliveries">
      <thead>
        <tr>
          <th>Received</th>
          <th>Provider</th>
          <th>BuildConfig</th>
          <th>Outcome</th>
          <th>Commit</th>
          <th>Build</th>
        </tr>
      </thead>
      <tbody>
        ${(deliveries.data?.items ?? []).map(
          (d) =>
            html`<tr>
              <td>${ago(d.receivedAt)}</td>
              <td>${d.provider}</td>
              <td><a href=${href(ns, "buildconfigs", d.buildConfig)}>${d.buildConfig}</a></td>
              <td>
                ${d.outcome}${d.reason ? ` (${d.reason})` : ""}${d.message ? html`<div class="muted">${d.message}</div>` : null}
              </td>
              <td><code>${d.commit ? d.commit.slice(0, 12) : ""}</code> ${d.ref ?? ""}</td>
              <td>${d.build ? html`<a href=${href(ns, "builds", d.build)}>${d.build}</a>` : ""}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
