// Renders JSON data as block-style YAML for reading. Scalars that YAML could misread (numbers-looking strings,
// "yes", leading symbols, templates) are written as JSON strings, which YAML accepts as double-quoted scalars.
const PLAIN = /^[A-Za-z_][A-Za-z0-9_ .\-/]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") {
    return PLAIN.test(value) && !RESERVED.test(value) && !value.endsWith(" ") ? value : JSON.stringify(value);
  }
  return JSON.stringify(value);
}

function key(k: string): string {
  return PLAIN.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
}

function isEmpty(value: unknown): boolean {
  return (Array.isArray(value) && value.length === 0) || (typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);
}

function lines(value: unknown, indent: string): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [indent + "[]"];
    return value.flatMap((item) => {
      if (item !== null && typeof item === "object" && !isEmpty(item)) {
        const inner = lines(item, indent + "  ");
        return [indent + "- " + inner[0].trimStart(), ...inner.slice(1)];
      }
      return [indent + "- " + (isEmpty(item) ? JSON.stringify(item) : scalar(item))];
    });
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return [indent + "{}"];
    return entries.flatMap(([k, v]) => {
      if (v !== null && typeof v === "object" && !isEmpty(v)) return [indent + key(k) + ":", ...lines(v, indent + "  ")];
      return [indent + key(k) + ": " + (isEmpty(v) ? JSON.stringify(v) : scalar(v))];
    });
  }
  return [indent + scalar(value)];
}

export function toYaml(value: unknown): string {
  return lines(value, "").join("\n") + "\n";
}
