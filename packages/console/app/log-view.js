import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";

const terminal = new Set(["Complete", "Failed", "Error", "Cancelled"]);
const stepMarker = /^--> [A-Z][A-Za-z]+$/;

/**
 * A build's log, followed to the build's end. Written for chatty builds (10,000 lines/s): the
 * text goes into the page once per frame, as one block per frame, and blocks out of view are
 * not laid out (`content-visibility: auto`), so the page keeps up however long the log grows.
 * Survives an api restart: it reads the log again and skips the lines it already shows.
 */
export function LogView({ path, phase, onStep }) {
  const box = useRef(null);
  const [state, setState] = useState({ lines: 0, following: false, error: null });
  const phaseRef = useRef(phase);
  phaseRef.current = phase;
  const stepRef = useRef(onStep);
  stepRef.current = onStep;

  useEffect(() => {
    const element = box.current;
    element.textContent = "";
    const follower = new LogFollower(path, element, {
      isOver: () => terminal.has(phaseRef.current),
      onStep: () => stepRef.current?.(),
      onState: (next) => setState((s) => ({ ...s, ...next })),
    });
    void follower.run();
    return () => follower.stop();
  }, [path]);

  return html`<section class="log">
    <header class="log-header">
      <span data-testid="log-lines">${state.lines} lines</span>
      ${state.following ? html`<span class="live">following</span>` : null}
      ${state.error ? html`<span class="error-inline">${state.error}</span>` : null}
      <a class="button" href=${`${path}?download=1`} download>Download</a>
    </header>
    <div class="log-body" ref=${box} data-testid="log"></div>
  </section>`;
}

class LogFollower {
  constructor(path, element, hooks) {
    this.path = path;
    this.element = element;
    this.hooks = hooks;
    this.controller = new AbortController();
    this.shown = 0; // complete lines on the page
    this.pending = [];
    this.frame = 0;
  }

  stop() {
    this.controller.abort();
    if (this.frame) cancelAnimationFrame(this.frame);
  }

  async run() {
    for (let attempt = 0; !this.controller.signal.aborted; attempt++) {
      try {
        const ended = await this.readOnce();
        if (ended || this.hooks.isOver()) break;
      } catch (error) {
        if (this.controller.signal.aborted) return;
        if (error.status === 404) {
          this.hooks.onState({ following: false, error: error.message });
          return;
        }
        this.hooks.onState({ error: "connection lost, reconnecting…" });
      }
      // The stream ended while the build runs (the api restarted): read it again, soon.
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)));
    }
    this.hooks.onState({ following: false });
  }

  /** One read of the log from its start; true when it ended because the build did. */
  async readOnce() {
    const response = await fetch(`${this.path}?follow=true`, {
      credentials: "same-origin",
      signal: this.controller.signal,
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw Object.assign(new Error(body.message ?? `HTTP ${response.status}`), {
        status: response.status,
      });
    }
    this.hooks.onState({ following: true, error: null });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let skip = this.shown; // lines shown before a reconnect come again first
    let carry = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const parts = (carry + value).split("\n");
      carry = parts.pop();
      if (skip > 0) {
        const dropped = Math.min(skip, parts.length);
        parts.splice(0, dropped);
        skip -= dropped;
      }
      if (parts.length > 0) this.add(parts);
    }
    if (carry) this.add([carry]);
    return this.hooks.isOver() || (await this.buildEnded());
  }

  /** Asked when the stream ends: the log route ends it when the build ends, and on a restart. */
  async buildEnded() {
    const build = await fetch(this.path.replace(/\/log$/, ""), { credentials: "same-origin" });
    if (!build.ok) return false;
    const body = await build.json();
    return terminal.has(body.status?.phase);
  }

  add(lines) {
    for (const line of lines) this.pending.push(line);
    this.shown += lines.length;
    // Kiln's step markers (`--> Build`), not buildah's `--> 99c986d765a` after a commit.
    if (lines.some((line) => stepMarker.test(line))) this.hooks.onStep();
    this.frame ||= requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    if (this.pending.length === 0) return;
    const element = this.element;
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 40;
    const block = document.createElement("pre");
    block.className = "log-block";
    block.textContent = `${this.pending.join("\n")}\n`;
    block.style.containIntrinsicSize = `auto ${this.pending.length * 1.35}em`;
    this.pending = [];
    element.append(block);
    if (atBottom) element.scrollTop = element.scrollHeight;
    this.hooks.onState({ lines: this.shown });
  }
}
