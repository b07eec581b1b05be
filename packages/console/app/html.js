import { h } from "preact";
import htm from "htm";

/** Templates in plain JavaScript (`html\`<div>…</div>\``), so the console needs no build step. */
export const html = htm.bind(h);
