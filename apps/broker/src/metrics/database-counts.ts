import { Injectable, Logger } from '@nestjs/common';
import { sql } from 'kysely';
import { DatabaseConnection } from '#ark/database';

/** How long one reading of the counts serves scrapes: they are exact counts, whose cost grows with the data. */
export const DATABASE_COUNTS_MAX_AGE_MS = 30_000;

export interface UpstreamCounts {
  messages: number;
  chunks: number;
  spans: number;
  operation_events: number;
  sessions: number;
  session_queries: number;
}

/** The executors' work queue by phase (`ark_query_execution_counts`). */
export interface QueueCounts {
  pending: number;
  assigned: number;
  running: number;
}

export type DatabaseCounts = UpstreamCounts & QueueCounts;

/**
 * The counts behind upstream's `broker_*_count` gauges (`ark_upstream_counts`) and the executors'
 * queue depth (`ark_query_execution_counts`), read from PostgreSQL (all tenants, no labels) in one
 * statement at most once per `DATABASE_COUNTS_MAX_AGE_MS`: every replica reports the same shared
 * totals, which in-process counters could not (they would count one replica's writes since its
 * start). A failed reading keeps the previous values.
 */
@Injectable()
export class DatabaseCountsReader {
  private readonly logger = new Logger('DatabaseCounts');
  private last: { at: number; counts: Promise<DatabaseCounts | undefined> } | undefined;
  private known: DatabaseCounts | undefined;

  constructor(private readonly connection: DatabaseConnection) {}

  read(now = Date.now()): Promise<DatabaseCounts | undefined> {
    if (!this.last || now - this.last.at >= DATABASE_COUNTS_MAX_AGE_MS) this.last = { at: now, counts: this.query() };
    return this.last.counts;
  }

  private async query(): Promise<DatabaseCounts | undefined> {
    try {
      const { rows } = await sql<DatabaseCounts>`SELECT * FROM ark_upstream_counts(), ark_query_execution_counts()`.execute(this.connection.db);
      this.known = rows[0];
    } catch (error) {
      this.logger.warn(`reading the database counts failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return this.known;
  }
}
