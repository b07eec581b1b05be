import type { CommandContext } from "../context.js";
import {
  ApiError,
  ApiTimeoutError,
  ApiUnreachableError,
  StreamInterruptedError,
} from "../errors.js";
import { applyBuildChange, parseBuildChange, type BuildChange } from "../output/build-change.js";
import { buildLayout, buildStatus } from "../output/columns.js";
import { formatResources, type OutputFormat } from "../output/format.js";
import { columnWidths, renderRows } from "../output/table.js";
import type { Build } from "../resources.js";

export interface WatchBuildsOptions {
  namespace: string;
  /** `kiln get builds NAME -w`: that build only. */
  name?: string | undefined;
  /** `--bc NAME`: that BuildConfig's builds only. */
  bc?: string | undefined;
  output?: OutputFormat | undefined;
}

/** Until the API says otherwise (`retry:`), as long as a browser's EventSource would wait. */
const defaultRetryMs = 1_000;

/**
 * `kiln get builds -w`, like `kubectl get -w`: the table as `kiln get builds` prints it, then a
 * row for each change of a build's status, heard on the API's events stream, until the process
 * is stopped (Ctrl-C, SIGTERM) or the API refuses the stream (401, 403, 404). A stream the API
 * ends or loses (a restart) is opened again; the builds are then read afresh and those whose
 * status changed meanwhile get their row, so a restart costs no row but the changes in between.
 */
export async function watchBuilds(ctx: CommandContext, options: WatchBuildsOptions): Promise<void> {
  const printer = new BuildPrinter(ctx, options.output);
  const known = new Map<string, Build>();
  let retryMs = defaultRetryMs;
  let watching = false;
  let lost = false;
  for (;;) {
    let why = "the API ended it";
    try {
      let ready = false;
      const events = ctx.client().events(options.namespace, { onRetry: (ms) => (retryMs = ms) });
      for await (const event of events) {
        if (event.event === "ready") {
          // Read after the stream is open, so no change falls between the list and the stream.
          const builds = await listWatched(ctx, options, watching);
          for (const build of builds) known.set(build.metadata.name, build);
          if (watching) printer.printChanged([...builds].reverse());
          else printer.printFirst(builds, options.namespace);
          ready = watching = true;
          lost = false;
        } else if (event.event === "build" && ready) {
          const change = parseBuildChange(event.data);
          if (change) await onChange(ctx, options, known, printer, change);
        }
      }
    } catch (err) {
      if (!watching || !reconnects(err)) throw err;
      why = err instanceof Error ? err.message : String(err);
    }
    if (!lost) ctx.err(`lost the event stream (${why}); reconnecting\n`);
    lost = true;
    await ctx.io.sleep(retryMs);
  }
}

/** What a restart or a network hiccup looks like: worth another try, unlike a refusal. */
function reconnects(err: unknown): boolean {
  if (
    err instanceof ApiUnreachableError ||
    err instanceof ApiTimeoutError ||
    err instanceof StreamInterruptedError
  )
    return true;
  return err instanceof ApiError && err.status >= 500;
}

async function listWatched(
  ctx: CommandContext,
  options: WatchBuildsOptions,
  again: boolean,
): Promise<Build[]> {
  const client = ctx.client();
  if (options.name === undefined)
    return client.listBuilds(options.namespace, { buildConfig: options.bc }); // newest first
  try {
    return [await client.getBuild(options.namespace, options.name)];
  } catch (err) {
    // Deleted while the stream was down: nothing to show, and no change of it will come.
    if (again && ApiError.parse(err)?.status === 404) return [];
    throw err;
  }
}

async function onChange(
  ctx: CommandContext,
  options: WatchBuildsOptions,
  known: Map<string, Build>,
  printer: BuildPrinter,
  change: BuildChange,
): Promise<void> {
  if (change.namespace !== options.namespace) return;
  if (options.name !== undefined && change.name !== options.name) return;
  // A build first heard of here (made after the list): its spec gives the row's TYPE and FROM.
  const previous = known.get(change.name) ?? (await readBuild(ctx, options.namespace, change.name));
  const build = applyBuildChange(previous, change);
  known.set(change.name, build);
  if (options.bc !== undefined && build.spec?.buildConfig !== options.bc) return;
  printer.printChanged([build]);
}

async function readBuild(
  ctx: CommandContext,
  namespace: string,
  name: string,
): Promise<Build | undefined> {
  try {
    return await ctx.client().getBuild(namespace, name);
  } catch (err) {
    if (ApiError.parse(err)?.status === 404) return undefined; // deleted since: the event alone
    throw err;
  }
}

/** The widest STATUS, STARTED and DURATION most builds show: the watch's columns make room for them. */
const roomyRow = ["", "", "", "Cancelled", "59 minutes ago", "59m59s"];

/**
 * Prints builds as the watch goes: a table whose later rows keep the first rows' column widths,
 * or with `-o` one object (json, yaml) or name per change, as `kubectl get -w -o` does. A build
 * gets a new row only when its STATUS differs from its last one (a redelivered event, or a
 * reconnect that finds it as it was, prints nothing).
 */
class BuildPrinter {
  private readonly printed = new Map<string, string>();
  private widths: number[] | undefined;
  private objects = 0;

  constructor(
    private readonly ctx: CommandContext,
    private readonly output: OutputFormat | undefined,
  ) {}

  printFirst(builds: readonly Build[], namespace: string): void {
    if (builds.length === 0) {
      // kubectl says this on stderr too (a table's headers come with its first row).
      this.ctx.err(`No resources found in ${namespace} namespace.\n`);
      return;
    }
    this.print(builds);
  }

  printChanged(builds: readonly Build[]): void {
    this.print(builds.filter((b) => this.printed.get(b.metadata.name) !== buildStatus(b)));
  }

  private print(builds: readonly Build[]): void {
    for (const build of builds) this.printed.set(build.metadata.name, buildStatus(build));
    if (this.output !== undefined) {
      for (const build of builds) this.printObject(build, this.output);
      return;
    }
    if (builds.length === 0) return;
    const now = this.ctx.io.now();
    const rows = builds.map((b) => buildLayout.row(b, now));
    if (this.widths) {
      this.ctx.out(renderRows(rows, this.widths));
      return;
    }
    // Room for the usual later cells too, or a first table of New builds would push every
    // later Complete row out of line.
    this.widths = columnWidths(buildLayout.headers, [...rows, roomyRow]);
    this.ctx.out(renderRows([buildLayout.headers, ...rows], this.widths));
  }

  private printObject(build: Build, output: OutputFormat): void {
    // Several YAML documents in one stream need the separator between them.
    if (output === "yaml" && this.objects > 0) this.ctx.out("---\n");
    this.objects += 1;
    this.ctx.out(formatResources([build], output, { single: true, kind: "Build" }));
  }
}
