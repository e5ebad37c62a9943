import pg from 'pg';

/** A statement as the code runs it: SQL text and its parameters. */
export interface PlannedQuery {
  sql: string;
  params?: readonly unknown[];
}

/**
 * The plan PostgreSQL chooses for `query` when sequential scans are priced out
 * (`SET enable_seqscan = off`), as EXPLAIN's text lines. A `Seq Scan` that is still there means
 * no index can serve the query, however small the test table. The parameters are bound as the
 * application binds them (an unnamed statement), so the plan is the one the application gets.
 */
export async function explainWithoutSeqScan(url: string, query: PlannedQuery): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SET enable_seqscan = off');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${query.sql}`, [...(query.params ?? [])]);
    return rows.map((r) => r['QUERY PLAN']);
  } finally {
    await client.end();
  }
}
