import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { applyCommand } from "./commands/apply.js";
import { cancelBuildCommand } from "./commands/cancel-build.js";
import { consoleCommand } from "./commands/console.js";
import { createTokenCommand, type CreateTokenOptions } from "./commands/create-token.js";
import { tagCommand } from "./commands/tag.js";
import { deleteCommand } from "./commands/delete.js";
import { describeCommand } from "./commands/describe.js";
import { eventsCommand } from "./commands/events.js";
import { getCommand } from "./commands/get.js";
import { graphCommand, impactCommand } from "./commands/graph.js";
import { logsCommand } from "./commands/logs.js";
import { newBuildCommand, type NewBuildOptions } from "./commands/new-build.js";
import { startBuildCommand } from "./commands/start-build.js";
import { versionCommand } from "./commands/version.js";
import { webhooksCommand } from "./commands/webhooks.js";
import { CommandContext, defaultIo, type CliIo } from "./context.js";
import { CliError } from "./errors.js";
import { OutputFormat } from "./output/format.js";

/** Wiring only: flags → command functions in ./commands. */

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidArgumentError("must be a port number (1-65535)");
  return n;
}

const outputOption = (formats: readonly OutputFormat[] = Object.values(OutputFormat)) =>
  new Option("-o, --output <format>", "output format").choices(formats);

const namespaceOption = () =>
  new Option("-n, --namespace <namespace>", "namespace (default: KILN_NAMESPACE or default)");

/** Prints `error: message` and detail lines; a non-Kiln error gets its stack only with KILN_DEBUG. */
function reportError(io: CliIo, err: unknown): number {
  if (err instanceof CliError) {
    io.stderr.write(`error: ${err.message}\n`);
    for (const line of err.detailLines()) io.stderr.write(`  ${line}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`error: ${message}\n`);
  if (io.env.KILN_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return 1;
}

/**
 * The commander program. Actions never call process.exit: a failure is reported on `io.stderr`
 * and handed to `io.exit`, so tests run commands in-process.
 */
export function buildProgram(overrides: Partial<CliIo> = {}): Command {
  const io: CliIo = { ...defaultIo(), ...overrides };
  const ctx = new CommandContext(io);
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<void> | void) =>
    async (...args: A): Promise<void> => {
      try {
        await fn(...args);
      } catch (err) {
        io.exit(reportError(io, err));
      }
    };

  const program = new Command("kiln")
    .description("OpenShift-style container builds: BuildConfigs, Builds and ImageStreams")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .showHelpAfterError("(run kiln --help for usage)");

  program
    .command("apply")
    .description("create or update resources from YAML or JSON files (multi-document; - for stdin)")
    .requiredOption("-f, --filename <file>", "file, directory or - (repeatable)", collect, [])
    .addOption(namespaceOption())
    .addOption(outputOption())
    .action(
      run((opts: { filename: string[]; namespace?: string; output?: OutputFormat }) =>
        applyCommand(ctx, opts),
      ),
    );

  program
    .command("get")
    .description("list resources: bc, builds, is, secrets, deploys, isgrants, templates, tokens")
    .argument(
      "<type>",
      "bc|buildconfig(s), build(s), is|imagestream(s), secret(s), deploy(s), isgrant|imagestreamgrant(s), template(s)|buildertemplate(s), token(s); or TYPE/NAME",
    )
    .argument("[name]", "one resource")
    .addOption(namespaceOption())
    .addOption(outputOption())
    .option("--bc <buildconfig>", "builds of this BuildConfig only")
    .option(
      "-w, --watch",
      "builds: after the list, print a row for every change of a build until stopped (Ctrl-C)",
    )
    .action(
      run(
        (
          type: string,
          name: string | undefined,
          opts: { namespace?: string; output?: OutputFormat; bc?: string; watch?: boolean },
        ) => getCommand(ctx, type, name, opts),
      ),
    );

  program
    .command("describe")
    .description("show a resource in detail")
    .argument("<type>", "bc, build or is; or TYPE/NAME")
    .argument("[name]")
    .addOption(namespaceOption())
    .action(
      run((type: string, name: string | undefined, opts: { namespace?: string }) =>
        describeCommand(ctx, type, name, opts),
      ),
    );

  program
    .command("new-build")
    .description(
      "create a BuildConfig and its ImageStream from a repository, like oc new-build: a Dockerfile means the Docker strategy, else the BuilderTemplate its files match",
    )
    .argument("<repository>", "git URL or local directory, optionally #REF")
    .addOption(namespaceOption())
    .option("--template <name>", "build with this BuilderTemplate, whatever the files say")
    .option("--name <name>", "the BuildConfig's name (default: the repository's)")
    .option("--to <imagestream:tag>", "the output ImageStreamTag (default: NAME:latest)")
    .option("--runtime-image <image>", "Source builds: copy the artifacts into this image")
    .option("--strategy <strategy>", "docker or source (default: detected)")
    .option("--dry-run", "print what would be created (-o yaml|json), create nothing")
    .option("-o, --output <format>", "with --dry-run: yaml (default) or json")
    .option("--overwrite", "replace an existing BuildConfig of the name")
    .action(
      run((repository: string, opts: NewBuildOptions) => newBuildCommand(ctx, repository, opts)),
    );

  program
    .command("start-build")
    .description("start a build of a BuildConfig")
    .argument("<buildconfig>")
    .addOption(namespaceOption())
    .option("--commit <sha>", "build this commit instead of the ref's head")
    .option("-e, --env <NAME=value>", "extra build environment (repeatable)", collect, [])
    .option("-F, --follow", "stream the build log, then exit non-zero unless the build completes")
    .option("-w, --wait", "wait for the build to end, then exit non-zero unless it completes")
    .option(
      "--from-file <file>",
      "binary build: upload this one file as the source (named as spec.source.binary.asFile, else its own name)",
    )
    .option(
      "--from-dir <dir>",
      "binary build: upload this directory's contents (archived as tar) as the source",
    )
    .option(
      "--from-archive <archive>",
      "binary build: upload this tar or tar.gz, unpacked as the source",
    )
    .option(
      "--as-dockerfile <dir>",
      "S2I builds: write the Dockerfile and context Kiln would build to this directory (like s2i build --as-dockerfile), start nothing",
    )
    .addOption(outputOption(["name", "json", "yaml"]))
    .action(
      run(
        (
          name: string,
          opts: {
            namespace?: string;
            commit?: string;
            env: string[];
            follow?: boolean;
            wait?: boolean;
            output?: OutputFormat;
            fromFile?: string;
            fromDir?: string;
            fromArchive?: string;
            asDockerfile?: string;
          },
        ) => startBuildCommand(ctx, name, opts),
      ),
    );

  program
    .command("logs")
    .description("print a build's log: build/NAME-N, NAME-N, or bc/NAME for its latest build")
    .argument("<build>")
    .addOption(namespaceOption())
    .option("-f, --follow", "stream until the build ends")
    .action(
      run((target: string, opts: { namespace?: string; follow?: boolean }) =>
        logsCommand(ctx, target, opts),
      ),
    );

  program
    .command("graph")
    .description("the chained builds: what each BuildConfig follows, pushes and sets off")
    .action(run(() => graphCommand(ctx)));

  program
    .command("impact")
    .description("what a change of an ImageStream tag would rebuild, in order, without building")
    .argument("<tag>", "is/NAME:TAG")
    .addOption(namespaceOption())
    .action(
      run((target: string, opts: { namespace?: string }) => impactCommand(ctx, target, opts)),
    );

  program
    .command("cancel-build")
    .description("cancel a running or pending build")
    .argument("<build>", "NAME-N or build/NAME-N")
    .addOption(namespaceOption())
    .action(
      run((target: string, opts: { namespace?: string }) => cancelBuildCommand(ctx, target, opts)),
    );

  program
    .command("tag")
    .description("point an ImageStream tag at another tag's current image, like oc tag")
    .argument("<source>", "IMAGESTREAM:TAG, or NAMESPACE/IMAGESTREAM:TAG")
    .argument("<destination>", "IMAGESTREAM:TAG")
    .addOption(namespaceOption())
    .action(
      run((source: string, destination: string, opts: { namespace?: string }) =>
        tagCommand(ctx, source, destination, opts),
      ),
    );

  program
    .command("create")
    .description("create a token")
    .command("token")
    .description(
      "create an API token with a role (admin, edit, view) in each namespace; prints the token once",
    )
    .argument("<name>")
    .option(
      "-n, --namespace <namespace>",
      "a namespace the token gets a role in (repeatable, each followed by its --role)",
      collect,
      [],
    )
    .option("--role <role>", "admin, edit or view in the --namespace before it", collect, [])
    .action(run((name: string, opts: CreateTokenOptions) => createTokenCommand(ctx, name, opts)));

  program
    .command("delete")
    .description(
      "delete a BuildConfig (and its builds), an ImageStream, a Secret, an ImageStreamGrant, a BuilderTemplate, or revoke a token",
    )
    .argument("<type>", "bc, is, secret, isgrant, template or token; or TYPE/NAME")
    .argument("[name]")
    .addOption(namespaceOption())
    .action(
      run((type: string, name: string | undefined, opts: { namespace?: string }) =>
        deleteCommand(ctx, type, name, opts),
      ),
    );

  program
    .command("webhooks")
    .description(
      "print the webhook URLs of a BuildConfig's GitHub/GitLab/Bitbucket/Gitea/Generic triggers",
    )
    .argument("<buildconfig>")
    .addOption(namespaceOption())
    .action(run((name: string, opts: { namespace?: string }) => webhooksCommand(ctx, name, opts)));

  program
    .command("events")
    .description("list git webhook deliveries, newest first, with the build each made or why none")
    .addOption(namespaceOption())
    .option("--bc <buildconfig>", "deliveries for this BuildConfig only")
    .addOption(new Option("-o, --output <format>", "output format").choices(["json"]))
    .action(
      run((opts: { namespace?: string; bc?: string; output?: string }) => eventsCommand(ctx, opts)),
    );

  program
    .command("console")
    .description(
      "print the web console's URL (the namespace's BuildConfigs) and open it where a desktop session has xdg-open",
    )
    .addOption(namespaceOption())
    .action(run((opts: { namespace?: string }) => consoleCommand(ctx, opts)));

  program
    .command("version")
    .description("print the Kiln version")
    .action(run(() => versionCommand(ctx)));

  program
    .command("up")
    .description(
      "run Kiln on this machine: NATS, PostgreSQL, a registry and the six services, each restarted when it exits",
    )
    .option("--state-dir <dir>", "where data, logs and the env file live (default: <repo>/.kiln)")
    .option("--nats-port <port>", "NATS client port", port)
    .option("--postgres-port <port>", "PostgreSQL port", port)
    .option("--registry-port <port>", "registry port", port)
    .option("--api-port <port>", "API port", port)
    .option("--webhook-port <port>", "webhook receiver port", port)
    .option("--demo", "also create a demo git repo and a BuildConfig `hello` for it")
    .action(
      run(async (opts: import("./commands/up.js").UpOptions) => {
        // Loaded on demand: only `up` needs @kiln/infra and @kiln/db.
        const { upCommand } = await import("./commands/up.js");
        await upCommand(ctx, opts);
      }),
    );

  program
    .command("status")
    .description(
      "what `kiln up` runs: each process's state, pid, uptime, restarts and last exit (exit 3: not running)",
    )
    .option(
      "--state-dir <dir>",
      "the `kiln up` state dir (default: KILN_STATE_DIR, or <repo>/.kiln)",
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(["json"]))
    .action(
      run(async (opts: import("./commands/status.js").StatusOptions) => {
        // Loaded on demand, like `up`: it reads @kiln/infra's status file.
        const { statusCommand } = await import("./commands/status.js");
        await statusCommand(ctx, opts);
      }),
    );

  return program;
}

/** Runs one command line (without `node kiln`) and resolves to its exit code. */
export async function runCli(
  argv: readonly string[],
  overrides: Partial<CliIo> = {},
): Promise<number> {
  let code = 0;
  const io: Partial<CliIo> = {
    ...overrides,
    exit: (c) => {
      code = c;
      overrides.exit?.(c);
    },
  };
  try {
    await buildProgram(io).parseAsync([...argv], { from: "user" });
  } catch (err) {
    // exitOverride turns commander's own exits (--help, a missing argument) into CommanderError.
    if (err instanceof CommanderError) return err.exitCode;
    return reportError({ ...defaultIo(), ...overrides }, err);
  }
  return code;
}

/** Entry point used by bin/kiln.mjs. */
export function main(argv: readonly string[]): Promise<number> {
  for (const stream of [process.stdout, process.stderr]) stream.on("error", quietOnClosedPipe);
  return runCli(argv);
}

/**
 * `kiln get builds | head -1`: the reader has gone, so the rest of the output has nowhere to go.
 * Stop there, as a Unix tool does on SIGPIPE, instead of an unhandled EPIPE with its stack.
 */
function quietOnClosedPipe(err: NodeJS.ErrnoException): void {
  if (err.code !== "EPIPE") throw err;
  process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
}
