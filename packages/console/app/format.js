import { html } from "./html.js";

export const phaseClass = (phase) => `phase phase-${(phase ?? "none").toLowerCase()}`;

export function Phase({ phase }) {
  return html`<span class=${phaseClass(phase)} data-phase=${phase ?? ""}>${phase ?? "—"}</span>`;
}

export function ago(iso) {
  if (!iso) return "";
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.max(0, seconds)}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

export function duration(ms) {
  if (ms === undefined || ms === null) return "";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}

export const shortDigest = (digest) => (digest ? digest.replace(/^sha256:/, "").slice(0, 12) : "");

export const href = (ns, ...rest) =>
  `#/ns/${encodeURIComponent(ns)}${rest.map((p) => `/${encodeURIComponent(p)}`).join("")}`;

export function ErrorBox({ error }) {
  if (!error) return null;
  const notFound = error.status === 404;
  return html`<div class="error" role="alert" data-status=${error.status ?? ""}>
    <strong>${notFound ? "Not found" : (error.reason ?? "Error")}</strong>: ${error.message}
  </div>`;
}

/** Copies text to the clipboard, where the page may (a secure context); shows it selected otherwise. */
export function CopyButton({ text }) {
  const copy = async (event) => {
    try {
      await navigator.clipboard.writeText(text);
      event.target.textContent = "Copied";
    } catch {
      event.target.textContent = "Select and copy";
    }
  };
  return html`<button class="copy" type="button" onClick=${copy}>Copy</button>`;
}
