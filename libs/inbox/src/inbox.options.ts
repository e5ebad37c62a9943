export interface InboxModuleOptions {
  /** PostgreSQL schema of the `inbox` table (the one its migrations were bound to). Default `public`. */
  schema?: string;
}

export const INBOX_OPTIONS = Symbol('INBOX_OPTIONS');
