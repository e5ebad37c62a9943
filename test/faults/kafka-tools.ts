import { AssignerProtocol, ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { waitFor } from '@app/testing';

/** One member of a consumer group as the broker describes it, with the partitions it was assigned. */
export interface GroupMember {
  memberId: string;
  clientId: string;
  /** Partitions assigned to this member, over all topics. */
  partitions: number;
}

/** Broker-side tools for the fault suite: dead-letter counts, offsets, group state, event chaos. */
export class KafkaTools {
  private readonly kafka: Kafka;

  constructor(
    brokers: string,
    private readonly prefix: string,
  ) {
    this.kafka = new Kafka({ clientId: 'fault-suite', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  }

  private async withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      return await use(admin);
    } finally {
      await admin.disconnect();
    }
  }

  /** Messages in each of this stack's dead-letter topics (high watermark − low watermark). */
  async deadLetterCounts(): Promise<Record<string, number>> {
    return this.withAdmin(async (admin) => {
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(this.prefix) && t.endsWith('.dlq'));
      const counts: Record<string, number> = {};
      for (const topic of topics) {
        const offsets = await admin.fetchTopicOffsets(topic);
        counts[topic.slice(this.prefix.length)] = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
      }
      return counts;
    });
  }

  /** Moves a (stopped) consumer group back to offset 0 of `topic`: every message is delivered again. */
  async rewind(group: string, topic: string): Promise<void> {
    await this.withAdmin((admin) => admin.resetOffsets({ groupId: this.prefix + group, topic: this.prefix + topic, earliest: true }));
  }

  /**
   * Publishes raw bytes to a topic of this stack, e.g. a poison message, to `partition` if given
   * (else the key decides). Resolves with where the broker stored it.
   */
  async publishRaw(topic: string, key: string, value: string, partition?: number): Promise<{ partition: number; offset: number }> {
    const producer = this.kafka.producer();
    await producer.connect();
    try {
      const [stored] = await producer.send({
        topic: this.prefix + topic,
        acks: -1,
        messages: [{ key, value, ...(partition !== undefined && { partition }) }],
      });
      if (!stored) throw new Error(`the broker returned no metadata for the message sent to ${topic}`);
      return { partition: stored.partition, offset: Number(stored.baseOffset) };
    } finally {
      await producer.disconnect();
    }
  }

  /** Per partition of a topic of this stack: the end offset (high watermark) and the low watermark. */
  async offsets(topic: string): Promise<Map<number, { high: number; low: number }>> {
    return this.withAdmin(async (admin) => {
      const offsets = await admin.fetchTopicOffsets(this.prefix + topic);
      return new Map(offsets.map((p) => [p.partition, { high: Number(p.high), low: Number(p.low) }]));
    });
  }

  /** Per partition of `topic`: the offset `group` (logical name) committed, -1 when it committed none. */
  async committedOffsets(group: string, topic: string): Promise<Map<number, number>> {
    return this.withAdmin(async (admin) => {
      const [offsets] = await admin.fetchOffsets({ groupId: this.prefix + group, topics: [this.prefix + topic] });
      return new Map((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    });
  }

  /** Per partition of a topic of this stack: its leader's node id, its replicas and in-sync replicas. */
  async partitions(topic: string): Promise<{ partition: number; leader: number; replicas: number[]; isr: number[] }[]> {
    return this.withAdmin(async (admin) => {
      const { topics } = await admin.fetchTopicMetadata({ topics: [this.prefix + topic] });
      return (topics[0]?.partitions ?? []).map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }));
    });
  }

  /** The node id that leads the most partitions of `topic` (the lowest id on a tie). */
  async busiestLeader(topic: string): Promise<number> {
    const counts = new Map<number, number>();
    for (const p of await this.partitions(topic)) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
    const [leader] = [...counts].sort(([a, n], [b, m]) => m - n || a - b)[0] ?? [];
    if (leader === undefined || leader < 0) throw new Error(`${topic} has no leader`);
    return leader;
  }

  /** A topic's `min.insync.replicas`, as the broker reports it (the topic's own value or the default). */
  async minInsyncReplicas(topic: string): Promise<number> {
    return this.withAdmin(async (admin) => {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: this.prefix + topic, configNames: ['min.insync.replicas'] }],
      });
      return Number(resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue);
    });
  }

  /** The state of a consumer group (logical name) and its members with their assignments. */
  async describeGroup(group: string): Promise<{ state: string; members: GroupMember[] }> {
    return this.withAdmin(async (admin) => {
      const { groups } = await admin.describeGroups([this.prefix + group]);
      const described = groups[0];
      if (!described) return { state: 'Unknown', members: [] };
      return {
        state: described.state,
        members: described.members.map((m) => {
          const decoded = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
          const partitions = Object.values(decoded?.assignment ?? {}).reduce((n, list) => n + list.length, 0);
          return { memberId: m.memberId, clientId: m.clientId, partitions };
        }),
      };
    });
  }

  /**
   * Delivers every message of `topic` twice more, late and out of order: it reads the topic as
   * its own group, and every `windowMs` republishes what it read, newest first, two times (same
   * key, so same partition; same payload, so same event id). Returns a stop function that waits
   * until it has read `expected` distinct messages, then resolves with how many copies it published.
   */
  async startChaos(topic: string, windowMs = 300): Promise<(expected: number) => Promise<number>> {
    const consumer = this.kafka.consumer({ groupId: `${this.prefix}fault-chaos`, sessionTimeout: 10_000 });
    const producer = this.kafka.producer();
    await Promise.all([consumer.connect(), producer.connect()]);
    await consumer.subscribe({ topic: this.prefix + topic, fromBeginning: true });
    let window: { key: Buffer | null; value: Buffer | null }[] = [];
    let copies = 0;
    const seen = new Set<string>(); // never re-copy a copy
    await consumer.run({
      eachMessage: async ({ message }) => {
        const id = message.value?.toString() ?? '';
        if (seen.has(id)) return;
        seen.add(id);
        window.push({ key: message.key, value: message.value });
      },
    });
    const flush = async () => {
      const batch = window.reverse();
      window = [];
      if (batch.length === 0) return;
      await producer.send({ topic: this.prefix + topic, acks: -1, messages: [...batch, ...batch] });
      copies += batch.length * 2;
    };
    let flushing = Promise.resolve();
    const timer = setInterval(() => (flushing = flushing.then(flush, flush)), windowMs);
    return async (expected: number) => {
      await waitFor(() => seen.size >= expected || undefined, { timeoutMs: 60_000, description: `${expected} distinct ${topic} messages` });
      clearInterval(timer);
      await flushing;
      await flush();
      await Promise.all([consumer.disconnect(), producer.disconnect()]);
      return copies;
    };
  }
}
