import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Bus } from "@kiln/bus";
import { getBuild, type Db } from "@kiln/db";
import { AccessResource, BuildStep, NotFoundError, Verb } from "@kiln/domain";

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

interface BuildStepTiming {
  step: BuildStep;
  startedAt: string;
  /** Until the next step began, or the build ended; absent while the step runs. */
  durationMs?: number;
}

const stepMarker = /^--> (\S+)$/;
const knownSteps = new Set<string>(Object.values(BuildStep));

/**
 * `GET /apis/v1/namespaces/:ns/builds/:name/steps`: the steps of a build's last attempt with
 * their durations, read off its log's step markers (`--> FetchSource`) and the time each log
 * batch was sent (at most 50 ms after the line was printed), as the runner's step metrics time them.
 */
export function registerBuildStepRoutes(app: App, options: { db: Db; bus: Bus }): void {
  app.get<{ Params: { ns: string; name: string } }>(
    "/apis/v1/namespaces/:ns/builds/:name/steps",
    { config: { access: { verb: Verb.Read, resource: AccessResource.Builds } } },
    async (request) => {
      const { ns, name } = request.params;
      const build = await getBuild(options.db, ns, name);
      if (!build) throw new NotFoundError("Build", ns, name);
      const marks: { step: BuildStep; at: number; attempt: number }[] = [];
      for await (const batch of options.bus.read("build.log-appended", build.id, {
        follow: false,
      })) {
        for (const line of batch.lines) {
          const step = stepMarker.exec(line)?.[1];
          if (step && knownSteps.has(step))
            marks.push({
              step: step as BuildStep,
              at: Date.parse(batch.at),
              attempt: batch.attempt,
            });
        }
      }
      const lastAttempt = Math.max(0, ...marks.map((mark) => mark.attempt));
      const steps = marks.filter((mark) => mark.attempt === lastAttempt);
      const end = build.completedAt?.getTime();
      const items: BuildStepTiming[] = steps.map((mark, index) => {
        const until = steps[index + 1]?.at ?? end;
        return {
          step: mark.step,
          startedAt: new Date(mark.at).toISOString(),
          ...(until === undefined ? {} : { durationMs: Math.max(0, until - mark.at) }),
        };
      });
      return { items };
    },
  );
}
