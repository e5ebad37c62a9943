/**
 * Classifying PostgreSQL failures by SQLSTATE (and by the driver's socket error codes), never by
 * message text. The answer decides what a caller does with the failure:
 *
 * - `unavailable`: the database cannot be reached or is not accepting work right now (connection
 *   refused or reset, server shutting down or starting, too many connections), or its schema and
 *   grants do not match this code yet ({@link SCHEMA_NOT_READY_CODES}: a deploy in progress).
 *   Retry later; an HTTP caller gets `503` with `Retry-After`.
 * - `transient`: this statement lost a race (serialization failure, deadlock, lock timeout) and
 *   may succeed as it is when tried again.
 * - `deterministic`: the statement will fail the same way every time for the same input
 *   (integrity constraint violations, invalid data, syntax or undefined objects). Retrying cannot
 *   help; a consumer dead-letters the message after a few attempts.
 * - `null`: not a database error we recognise.
 */
export type DatabaseFailureKind = 'unavailable' | 'transient' | 'deterministic';

/** Node socket errors a lost or refused database connection surfaces as. */
const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** SQLSTATE classes (first two characters), see the PostgreSQL manual, appendix A. */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57']); // connection exception, insufficient resources, operator intervention
const TRANSIENT_CODES = new Set(['40001', '40P01', '55P03']); // serialization failure, deadlock, lock not available
const DETERMINISTIC_CLASSES = new Set(['22', '23', '42', '2B', '2D', '44']); // data, integrity, syntax/access, dependents, tx termination, check option

/**
 * Class 42 codes that say the database does not match this code *yet* (or *any more*), which a
 * deploy heals, rather than that the statement is wrong. Our statements take every input as a
 * parameter, so no input can name a table, a column or a privilege: these fail for every message
 * alike, and dead-lettering them would empty a partition into its `.dlq` within seconds while a
 * GRANT or a migration is minutes away. Retried instead (the partition waits, visibly).
 * - `42501` insufficient privilege: a new role or table whose GRANT has not run yet, a role rotated.
 * - `42P01` undefined table, `42703` undefined column: an instance of version N+1 ahead of its
 *   migration, or one of version N after a migration dropped what it still reads; both end when
 *   the deploy does (the message goes to an instance that matches).
 * Every other class 42 code stays deterministic: `42601` syntax error, `42883` undefined function
 * (mostly a wrong argument type), `42804` datatype mismatch are bugs in the statement itself.
 */
export const SCHEMA_NOT_READY_CODES: ReadonlySet<string> = new Set(['42501', '42P01', '42703']);

/** Messages pg's client raises without a code when the connection is gone. */
const CONNECTION_GONE = [/Connection terminated/i, /Client has encountered a connection error/i, /timeout exceeded when trying to connect/i];

/** The error and the errors it wraps (TypeORM's `driverError`, `cause`), outermost first. */
function* errorChain(error: unknown): Generator<{ code?: unknown; message?: unknown }> {
  const seen = new Set<unknown>();
  for (let e: unknown = error; e && typeof e === 'object' && !seen.has(e); ) {
    seen.add(e);
    const candidate = e as { code?: unknown; driverError?: unknown; cause?: unknown; message?: unknown };
    yield candidate;
    e = candidate.driverError ?? candidate.cause;
  }
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The PostgreSQL SQLSTATE in `error` or what it wraps, e.g. `23505`; undefined when there is none. */
export function sqlStateOf(error: unknown): string | undefined {
  for (const { code } of errorChain(error)) {
    if (typeof code === 'string' && SQLSTATE.test(code)) return code;
  }
  return undefined;
}

export function classifyDatabaseError(error: unknown): DatabaseFailureKind | null {
  for (const candidate of errorChain(error)) {
    const code = typeof candidate.code === 'string' ? candidate.code : undefined;
    if (code && SOCKET_ERRORS.has(code)) return 'unavailable';
    if (code && SQLSTATE.test(code)) {
      if (TRANSIENT_CODES.has(code)) return 'transient';
      if (SCHEMA_NOT_READY_CODES.has(code)) return 'unavailable';
      const sqlClass = code.slice(0, 2);
      if (UNAVAILABLE_CLASSES.has(sqlClass) && code !== '57014') return 'unavailable'; // 57014: query canceled by us
      if (DETERMINISTIC_CLASSES.has(sqlClass)) return 'deterministic';
      return null;
    }
    // pg's own "the connection went away" errors carry no code; this is the driver's wording,
    // not a server message, and the only signal it gives.
    if (typeof candidate.message === 'string' && CONNECTION_GONE.some((pattern) => pattern.test(candidate.message as string))) {
      return 'unavailable';
    }
  }
  return null;
}
