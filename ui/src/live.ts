import { useEffect, useRef, useState } from "react";
import { follow, type StreamEvent } from "./sse";

/**
 * Calls `reload` when the stream at `path` brings an event that `accept` takes, at most once per `gapMs` (a burst
 * of events becomes one reload at its end). Returns whether the stream is up: callers poll while it is not.
 */
export function useLiveReload(path: string | null, accept: (event: StreamEvent) => boolean, reload: () => void, gapMs = 500): boolean {
  const [live, setLive] = useState(false);
  const acceptRef = useRef(accept);
  acceptRef.current = accept;
  const reloadRef = useRef(reload);
  reloadRef.current = reload;
  useEffect(() => {
    if (!path) {
      setLive(false);
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    const fire = () => {
      timer = undefined;
      last = Date.now();
      reloadRef.current();
    };
    const stop = follow(
      path,
      (event) => {
        if (!acceptRef.current(event) || timer) return;
        timer = setTimeout(fire, Math.max(0, last + gapMs - Date.now()));
      },
      // Callers poll while the stream is down and load once more when it is up (their interval changes), so
      // nothing that happened in between is missed.
      setLive,
    );
    return () => {
      stop();
      clearTimeout(timer);
    };
  }, [path, gapMs]);
  return live;
}
