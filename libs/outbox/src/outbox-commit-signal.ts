import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DataSource, type EntitySubscriberInterface, type QueryRunner, type TransactionCommitEvent, type TransactionRollbackEvent } from 'typeorm';

/**
 * Tells this process's relay that outbox rows were committed: `OutboxWriter` marks the
 * transaction it wrote in, and once TypeORM reports that transaction's commit (a transaction
 * subscriber on the app's `DataSource`), every listener is called. Costs nothing in PostgreSQL,
 * unlike a NOTIFY, which serialises every committing transaction of the server.
 *
 * Only transactions run through a query runner of this `DataSource` are seen; rows written any
 * other way (another process, plain SQL) are found by the relay's fallback poll.
 */
@Injectable()
export class OutboxCommitSignal implements OnModuleInit, OnModuleDestroy, EntitySubscriberInterface {
  /** Transactions that wrote outbox rows and have not ended yet. */
  private readonly pending = new WeakSet<QueryRunner>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly dataSource: DataSource) {}

  onModuleInit(): void {
    if (!this.dataSource.subscribers.includes(this)) this.dataSource.subscribers.push(this);
  }

  onModuleDestroy(): void {
    const index = this.dataSource.subscribers.indexOf(this);
    if (index >= 0) this.dataSource.subscribers.splice(index, 1);
  }

  /** Called by the writer inside the transaction that added rows. */
  track(runner: QueryRunner): void {
    this.pending.add(runner);
  }

  /** Calls `listener` after each commit of a tracked transaction; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Rows were committed outside any tracked transaction (a single statement that committed on its own). */
  committed(): void {
    for (const listener of this.listeners) listener();
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    // A released savepoint is not a commit: wait for the outermost transaction.
    if (event.queryRunner.isTransactionActive || !this.pending.has(event.queryRunner)) return;
    this.pending.delete(event.queryRunner);
    this.committed();
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    // A savepoint rolled back keeps the mark: at worst one wake-up finds nothing.
    if (!event.queryRunner.isTransactionActive) this.pending.delete(event.queryRunner);
  }
}
