import { nsPath } from "../api.js";
import { ago, ErrorBox, href, shortDigest } from "../format.js";
import { useResource } from "../hooks.js";
import { html } from "../html.js";

/** A namespace's ImageStreams, each tag's history with what moved it. */
export function ImageStreamsPage({ ns }) {
  const streams = useResource(nsPath(ns, "/imagestreams"), {
    ns,
    refreshOn: (type) => type === "image",
  });
  return html`<section>
    <h1>ImageStreams in ${ns}</h1>
    <${ErrorBox} error=${streams.error} />
    ${(streams.data?.items ?? []).map(
      (is) =>
        html`<article class="card" data-imagestream=${is.metadata.name}>
          <h2>${is.metadata.name} <code class="muted">${is.status.dockerImageRepository}</code></h2>
          ${(is.status.tags ?? []).length === 0 ? html`<p class="muted">No tag has an image yet.</p>` : null}
          ${(is.status.tags ?? []).map(
            (tag) =>
              html`<table>
                <caption>
                  ${is.metadata.name}:${tag.tag}
                </caption>
                <thead>
                  <tr>
                    <th>Image</th>
                    <th>When</th>
                    <th>Cause</th>
                  </tr>
                </thead>
                <tbody>
                  ${tag.items.map(
                    (item) =>
                      html`<tr>
                        <td>
                          <code title=${item.dockerImageReference}>${shortDigest(item.image)}</code>
                        </td>
                        <td>${ago(item.created)}</td>
                        <td>
                          ${item.cause}${item.build ? html` by <a href=${href(ns, "builds", item.build)}>${item.build}</a>` : null}${item.message ? ` (${item.message})` : ""}
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>`,
          )}
        </article>`,
    )}
  </section>`;
}
