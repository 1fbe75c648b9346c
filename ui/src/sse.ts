import { createParser } from "eventsource-parser";
import { getToken } from "./auth";

/** One workflow event as the server's streams send it (GET /api/v1/events/stream, …/workflows/{id}/events/stream). */
export interface StreamEvent {
  type: "event";
  id: string;
  workflow_id: string;
  event_type: string;
  activity_key: string | null;
  iteration: number | null;
  payload: unknown;
  timestamp: string;
}

/**
 * Follows a Server-Sent Events stream of the API with fetch rather than EventSource, so the token goes in the
 * Authorization header (never in a URL, where logs and history keep it). On a drop it reconnects with
 * Last-Event-ID (the server replays what was missed) after a growing pause; `onLive(false)` tells the caller to
 * poll meanwhile. Returns a function that stops it.
 */
export function follow(path: string, onEvent: (event: StreamEvent) => void, onLive: (live: boolean) => void): () => void {
  const controller = new AbortController();
  let lastId: string | null = null;
  let pause = 1000;
  const run = async () => {
    while (!controller.signal.aborted) {
      try {
        const headers = new Headers({ accept: "text/event-stream" });
        const token = getToken();
        if (token) headers.set("authorization", `Bearer ${token}`);
        if (lastId) headers.set("last-event-id", lastId);
        const response = await fetch(`/api/v1${path}`, { headers, signal: controller.signal, credentials: "omit", cache: "no-store" });
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        onLive(true);
        pause = 1000;
        const parser = createParser({
          onEvent(message) {
            if (message.id) lastId = message.id;
            if (message.event && message.event !== "message") return; // ping, error
            try {
              const data = JSON.parse(message.data) as StreamEvent;
              if (data.type === "event") onEvent(data);
            } catch {
              // a frame that is not JSON is not an event
            }
          },
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      onLive(false);
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 30_000);
    }
  };
  void run();
  return () => controller.abort();
}
