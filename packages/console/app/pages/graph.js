import { useState } from "preact/hooks";
import { api } from "../api.js";
import { lastBuilds, useBuilds } from "../builds.js";
import { ErrorBox, href, phaseClass } from "../format.js";
import { layout } from "../graph-layout.js";
import { useResource } from "../hooks.js";
import { html } from "../html.js";

/**
 * The chain graph (`kiln graph`): which BuildConfig rebuilds when another's image changes,
 * each node with its last build's phase, live; a tag's `kiln impact` highlighted.
 */
export function GraphPage({ ns }) {
  const graph = useResource("/apis/v1/buildgraph", { ns, refreshOn: () => false });
  const builds = useBuilds(ns);
  const [impact, setImpact] = useState({ tag: "", items: null, error: null });
  if (graph.error) return html`<${ErrorBox} error=${graph.error} />`;
  if (!graph.data) return html`<p class="muted">Loading…</p>`;

  const all = graph.data.nodes;
  const mine = all.filter((n) => n.buildConfig.startsWith(`${ns}/`));
  const ids = new Set(mine.map((n) => n.buildConfig));
  for (const n of mine) for (const d of n.downstream) ids.add(d);
  for (const n of all)
    if (n.downstream.some((d) => ids.has(d) && d.startsWith(`${ns}/`))) ids.add(n.buildConfig);
  const shown = all.filter((n) => ids.has(n.buildConfig));
  const edges = shown.flatMap((n) =>
    n.downstream.filter((d) => ids.has(d)).map((d) => [n.buildConfig, d]),
  );
  const { positions, width, height } = layout([...ids], edges);
  const last = lastBuilds(builds.items);
  const tags = [
    ...new Set(shown.flatMap((n) => [...n.inputs, ...(n.output ? [n.output] : [])])),
  ].sort();
  const order = new Map((impact.items ?? []).map((id, i) => [id, i + 1]));

  const preview = async (tag) => {
    if (!tag) return setImpact({ tag, items: null, error: null });
    try {
      const body = await api(`/apis/v1/buildgraph?impact=${encodeURIComponent(tag)}`);
      setImpact({ tag, items: body.impact ?? [], error: null });
    } catch (error) {
      setImpact({ tag, items: null, error });
    }
  };

  return html`<section>
    <h1>Chain graph of ${ns}</h1>
    <label>
      Impact of a change to
      <select data-testid="impact" value=${impact.tag} onChange=${(e) => preview(e.target.value)}>
        <option value="">(choose an image tag)</option>
        ${tags.map((t) => html`<option value=${t}>${t}</option>`)}
      </select>
    </label>
    ${impact.items ? html`<span class="muted" data-testid="impact-count"> ${impact.items.length} BuildConfigs would rebuild</span>` : null}
    <${ErrorBox} error=${impact.error} />
    ${
      shown.length === 0
        ? html`<p class="muted">
            No chained BuildConfigs in ${ns} (a BuildConfig with an ImageChange trigger on another's
            output makes a chain).
          </p>`
        : html`<svg
            class="graph"
            data-testid="graph"
            width=${width + 20}
            height=${height + 20}
            viewBox=${`-10 -10 ${width + 20} ${height + 20}`}
          >
            <defs>
              <marker
                id="arrow"
                viewBox="0 0 10 10"
                refX="10"
                refY="5"
                markerWidth="8"
                markerHeight="8"
                orient="auto"
              >
                <path d="M0,0 L10,5 L0,10 z" />
              </marker>
            </defs>
            ${edges.map(([from, to]) => {
              const a = positions.get(from);
              const b = positions.get(to);
              return html`<line
                class="edge"
                x1=${a.x + a.width}
                y1=${a.y + a.height / 2}
                x2=${b.x}
                y2=${b.y + b.height / 2}
                marker-end="url(#arrow)"
              />`;
            })}
            ${shown.map((n) => {
              const p = positions.get(n.buildConfig);
              const [nodeNs, name] = n.buildConfig.split("/");
              const build = nodeNs === ns ? last.get(name) : undefined;
              const phase = build?.status.phase;
              const step = order.get(n.buildConfig);
              return html`<a
                href=${build ? href(ns, "builds", build.metadata.name) : href(nodeNs, "buildconfigs", name)}
              >
                <g
                  class=${`node ${phaseClass(phase)} ${step ? "impacted" : ""}`}
                  data-node=${n.buildConfig}
                  data-phase=${phase ?? ""}
                  data-impacted=${step ? "true" : "false"}
                  transform=${`translate(${p.x},${p.y})`}
                >
                  <rect width=${p.width} height=${p.height} rx="6" />
                  <text x="10" y="19">${nodeNs === ns ? name : n.buildConfig}</text>
                  <text x="10" y="37" class="sub"
                    >${build ? `${build.metadata.name} ${phase}` : "no build yet"}${step ? ` · #${step}` : ""}</text
                  >
                </g>
              </a>`;
            })}
          </svg>`
    }
  </section>`;
}
