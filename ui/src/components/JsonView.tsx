import { useState } from "react";
import { saveBlob } from "../api";

const LIMIT = 20_000; // characters shown before the rest is left to the download

/** Pretty JSON; a large value is shown truncated with a link to download all of it. */
export function JsonView({ value, name }: { value: unknown; name: string }) {
  const [expanded, setExpanded] = useState(false);
  const text = value === undefined ? "" : JSON.stringify(value, null, 2) ?? "null";
  const truncated = !expanded && text.length > LIMIT;
  return (
    <div className="json">
      <pre tabIndex={0} aria-label={name}>{truncated ? text.slice(0, LIMIT) + "\n…" : text}</pre>
      {text.length > LIMIT && (
        <p className="muted small">
          {truncated ? `Showing ${LIMIT.toLocaleString()} of ${text.length.toLocaleString()} characters. ` : ""}
          <button type="button" className="link" onClick={() => saveBlob(new Blob([text], { type: "application/json" }), `${name}.json`)}>
            Download
          </button>
          {truncated && (
            <>
              {" · "}
              <button type="button" className="link" onClick={() => setExpanded(true)}>
                Show all
              </button>
            </>
          )}
        </p>
      )}
    </div>
  );
}
