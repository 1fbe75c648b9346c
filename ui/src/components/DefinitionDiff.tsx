import { diffLines } from "diff";
import { useMemo } from "react";

/** A line diff of two versions' YAML (the `diff` library), unchanged stretches folded to a few lines of context. */
export function DefinitionDiff({ from, to, fromLabel, toLabel }: { from: string; to: string; fromLabel: string; toLabel: string }) {
  const lines = useMemo(() => {
    const out: { kind: "add" | "del" | "same" | "fold"; text: string }[] = [];
    const parts = diffLines(from, to);
    parts.forEach((part, i) => {
      const text = part.value.endsWith("\n") ? part.value.slice(0, -1) : part.value;
      const rows = text.split("\n");
      if (part.added || part.removed) {
        for (const row of rows) out.push({ kind: part.added ? "add" : "del", text: row });
        return;
      }
      const context = 3;
      const head = i === 0 ? 0 : context;
      const tail = i === parts.length - 1 ? 0 : context;
      if (rows.length <= head + tail + 1) {
        for (const row of rows) out.push({ kind: "same", text: row });
        return;
      }
      for (const row of rows.slice(0, head)) out.push({ kind: "same", text: row });
      out.push({ kind: "fold", text: `… ${rows.length - head - tail} unchanged lines` });
      for (const row of rows.slice(rows.length - tail)) out.push({ kind: "same", text: row });
    });
    return out;
  }, [from, to]);
  const changed = lines.some((l) => l.kind === "add" || l.kind === "del");
  return (
    <div className="diff" aria-label={`Changes from ${fromLabel} to ${toLabel}`}>
      <p className="muted small">
        <span className="diff-del">− {fromLabel}</span> · <span className="diff-add">+ {toLabel}</span>
      </p>
      {changed ? (
        <pre className="code" tabIndex={0} data-testid="definition-diff">
          {lines.map((l, i) => (
            <div key={i} className={`diff-${l.kind}`}>
              {l.kind === "add" ? "+ " : l.kind === "del" ? "- " : "  "}
              {l.text}
            </div>
          ))}
        </pre>
      ) : (
        <p className="muted" data-testid="definition-diff">The two versions are the same.</p>
      )}
    </div>
  );
}
