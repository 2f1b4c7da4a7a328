import { ServiceFailure } from "./errors";

interface RestLike {
  statusCode?: number;
  code?: string;
  name?: string;
  details?: { errorCode?: string; requestId?: string };
  response?: { headers?: { get(name: string): string | undefined } };
}

/**
 * The parts of a failed attempt that are safe to keep: status, code, request id. The SDK's error holds the request,
 * whose URL carries the SAS, so it is never kept or wrapped.
 */
export function failureOf(err: unknown): ServiceFailure {
  const e = (err ?? {}) as RestLike;
  const code = e.details?.errorCode ?? e.response?.headers?.get("x-ms-error-code") ?? e.code;
  const requestId = e.details?.requestId ?? e.response?.headers?.get("x-ms-request-id");
  return {
    ...(typeof e.statusCode === "number" ? { statusCode: e.statusCode } : {}),
    ...(code ? { code: String(code) } : e.name === "AbortError" ? { code: "AbortError" } : {}),
    ...(requestId ? { requestId } : {}),
  };
}

export function describeFailure(f: ServiceFailure): string {
  if (f.statusCode) return `HTTP ${f.statusCode}${f.code ? ` ${f.code}` : ""}`;
  return f.code ?? "network error";
}
