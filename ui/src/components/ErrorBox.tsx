import { ApiError } from "../api";

export function ErrorBox({ error }: { error: Error | null }) {
  if (!error) return null;
  const fields = error instanceof ApiError ? error.fieldErrors : undefined;
  return (
    <div className="error" role="alert">
      <strong>{error instanceof ApiError ? `${error.status} ${error.code}` : "Error"}:</strong> {error.message}
      {fields && (
        <ul>
          {Object.entries(fields).map(([field, messages]) => (
            <li key={field}>
              <code>{field}</code>: {messages.join("; ")}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
