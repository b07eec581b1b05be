import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, subscribe, takePrefetched } from "./api.js";

/**
 * An API resource, read when the view opens and read again when one of the namespace's events
 * says it changed (`refreshOn(type, data)` decides), never on a timer.
 */
export function useResource(path, { ns, refreshOn } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const latest = useRef(0);
  const load = useCallback(async () => {
    const ticket = ++latest.current;
    try {
      const data = await (takePrefetched(path) ?? api(path));
      if (ticket === latest.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (ticket === latest.current) setState({ data: null, error, loading: false });
    }
  }, [path]);
  useEffect(() => {
    setState({ data: null, error: null, loading: true });
    void load();
  }, [load]);
  const decide = useRef(refreshOn);
  decide.current = refreshOn;
  useEffect(() => {
    if (!ns || !decide.current) return undefined;
    let timer = null;
    // Events come in bursts (a cascade): one read for a burst.
    const refresh = () => {
      timer ??= setTimeout(() => {
        timer = null;
        void load();
      }, 100);
    };
    const stop = subscribe(ns, (type, data) => {
      if (type === "ready" || decide.current(type, data)) refresh();
    });
    return () => {
      stop();
      if (timer) clearTimeout(timer);
    };
  }, [ns, load]);
  return { ...state, reload: load };
}

/** The namespace's events as they come (for views that merge them into what they show). */
export function useEvents(ns, listener) {
  const current = useRef(listener);
  current.current = listener;
  useEffect(() => subscribe(ns, (type, data) => current.current(type, data)), [ns]);
}
