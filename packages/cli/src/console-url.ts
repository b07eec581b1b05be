/**
 * `<api>/console/#/ns/<ns>/buildconfigs`: the console the api serves, opened on the namespace's
 * BuildConfigs. The namespace is in the fragment because that is where the console keeps its
 * pages (a reload or a bookmark lands on the same one).
 */
export function consoleUrl(apiUrl: string, namespace: string): string {
  return `${apiUrl.replace(/\/+$/, "")}/console/#/ns/${encodeURIComponent(namespace)}/buildconfigs`;
}

/** Only a desktop session has a browser xdg-open could show: over ssh or in CI there is none. */
export function inDesktopSession(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}
