import { Injectable, Logger } from '@nestjs/common';
import { sql } from 'kysely';
import { DatabaseConnection } from '#ark/database';

/** How long one reading of the counts serves scrapes: they are exact counts, whose cost grows with the data. */
export const UPSTREAM_COUNTS_MAX_AGE_MS = 30_000;

export interface UpstreamCounts {
  messages: number;
  chunks: number;
  spans: number;
  operation_events: number;
  sessions: number;
  session_queries: number;
}

/**
 * The counts behind upstream's `broker_*_count` gauges, read from PostgreSQL (`ark_upstream_counts`,
 * all tenants, no labels) at most once per `UPSTREAM_COUNTS_MAX_AGE_MS`: every replica reports the
 * same shared totals, which in-process counters could not (they would count one replica's writes
 * since its start). A failed reading keeps the previous values.
 */
@Injectable()
export class UpstreamCountsReader {
  private readonly logger = new Logger('UpstreamCounts');
  private last: { at: number; counts: Promise<UpstreamCounts | undefined> } | undefined;
  private known: UpstreamCounts | undefined;

  constructor(private readonly connection: DatabaseConnection) {}

  read(now = Date.now()): Promise<UpstreamCounts | undefined> {
    if (!this.last || now - this.last.at >= UPSTREAM_COUNTS_MAX_AGE_MS) this.last = { at: now, counts: this.query() };
    return this.last.counts;
  }

  private async query(): Promise<UpstreamCounts | undefined> {
    try {
      const { rows } = await sql<UpstreamCounts>`SELECT * FROM ark_upstream_counts()`.execute(this.connection.db);
      this.known = rows[0];
    } catch (error) {
      this.logger.warn(`reading the upstream counts failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return this.known;
  }
}
