import type { Bus } from "@kiln/bus";
import { currentTag, type Db } from "@kiln/db";
import {
  AccessResource,
  authorize,
  imageTagPattern,
  issuesFromZod,
  namespaceName,
  NotFoundError,
  subdomainName,
  ValidationError,
  Verb,
} from "@kiln/domain";
import { TagRecorder } from "@kiln/image-tags";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import { subjectFor } from "./access.js";

const imageStreamName = subdomainName();

/** `is:tag`: an ImageStream name (a DNS-1123 subdomain of at most 253) and an image tag. */
const streamTag = z.string().superRefine((value, ctx) => {
  const colon = value.indexOf(":");
  const stream = colon < 0 ? value : value.slice(0, colon);
  const tag = colon < 0 ? "" : value.slice(colon + 1);
  if (!imageStreamName.safeParse(stream).success || !imageTagPattern.test(tag))
    ctx.addIssue({
      code: "custom",
      message:
        "must be IMAGESTREAM:TAG (an ImageStream name: a lowercase DNS-1123 subdomain of at most 253 characters; a tag: up to 128 letters, digits, _, . and -)",
    });
});

const TagBody = z.strictObject({
  from: z.strictObject({
    kind: z.literal("ImageStreamTag").default("ImageStreamTag"),
    name: streamTag,
    namespace: namespaceName().optional(),
  }),
  /** The destination, `is:tag`, in the route's namespace. */
  tag: streamTag,
});

/**
 * `POST /apis/v1/namespaces/{ns}/imagestreamtags` (`kiln tag SRC DST`, like `oc tag`): records
 * the source tag's current image on the destination tag (cause Tag). A destination already at
 * that digest is unchanged; a missing destination ImageStream is created. The caller edits the
 * destination's namespace and must be able to read the source's, as `oc tag` asks.
 */
export function registerImageStreamTagRoutes(
  app: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>,
  options: { db: Db; bus: Bus; logger: Logger },
): void {
  const recorder = new TagRecorder(options);
  app.post<{ Params: { ns: string } }>(
    "/apis/v1/namespaces/:ns/imagestreamtags",
    { config: { access: { verb: Verb.Edit, resource: AccessResource.ImageStreamTags } } },
    async (request, reply) => {
      const parsed = TagBody.safeParse(request.body ?? {});
      if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error));
      const { ns } = request.params;
      const { from, tag } = parsed.data;
      const fromNs = from.namespace ?? ns;
      authorize(await subjectFor(request, [fromNs]), {
        verb: Verb.Read,
        resource: AccessResource.ImageStreams,
        namespace: fromNs,
      });
      const [fromStream, fromTag] = from.name.split(":") as [string, string];
      const [toStream, toTag] = tag.split(":") as [string, string];
      const source = await currentTag(options.db, fromNs, fromStream, fromTag);
      if (!source) throw new NotFoundError("ImageStreamTag", fromNs, from.name);
      const result = await recorder.record({
        namespace: ns,
        imageStream: toStream,
        tag: toTag,
        digest: source.digest,
        imageReference: source.imageReference,
        cause: { type: "Tag", message: `tagged from ${fromNs}/${from.name}` },
      });
      return reply.status(result.changed ? 201 : 200).send({
        kind: "ImageStreamTag",
        metadata: { namespace: ns, name: tag },
        image: result.item.digest,
        dockerImageReference: result.item.imageReference,
        changed: result.changed,
      });
    },
  );
}
