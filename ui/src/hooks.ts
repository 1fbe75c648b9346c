import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "./api";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | Error | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads with `load`, and again every `intervalMs` while `keepPolling(data)` holds and the tab is visible. The next
 * poll is planned after the previous answer, so a slow server never gets overlapping requests.
 */
export function usePolled<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], intervalMs = 0, keepPolling: (data: T) => boolean = () => true): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const keepRef = useRef(keepPolling);
  keepRef.current = keepPolling;

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    setLoading(true);
    const run = async () => {
      try {
        const result = await loadRef.current(controller.signal);
        if (stopped) return;
        setData(result);
        setError(null);
        if (intervalMs > 0 && keepRef.current(result)) timer = setTimeout(run, intervalMs);
      } catch (e) {
        if (stopped || (e instanceof DOMException && e.name === "AbortError")) return;
        setError(e as Error);
        if (intervalMs > 0 && !(e instanceof ApiError && e.status < 500)) timer = setTimeout(run, intervalMs * 2);
      } finally {
        if (!stopped) setLoading(false);
      }
    };
    void run();
    return () => {
      stopped = true;
      controller.abort();
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick, intervalMs]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** `fn` at most once per `gapMs`: calls within the gap become one call at its end. */
export function useThrottled(fn: () => void, gapMs: number): () => void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const state = useRef<{ last: number; timer?: ReturnType<typeof setTimeout> }>({ last: 0 });
  useEffect(() => () => clearTimeout(state.current.timer), []);
  return useCallback(() => {
    const s = state.current;
    if (s.timer) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      s.last = Date.now();
      fnRef.current();
    }, Math.max(0, s.last + gapMs - Date.now()));
  }, [gapMs]);
}
