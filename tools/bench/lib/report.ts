// Shared pieces of the benchmarks: medians, percentiles, machine facts, a table.

import { cpus, totalmem } from 'node:os';
import hdr from 'hdr-histogram-js';

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Percentiles of latencies in microseconds, through an HDR histogram (3 significant digits). */
export function percentilesUs(samplesUs: readonly number[], ...quantiles: number[]): number[] {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  for (const us of samplesUs) histogram.recordValue(Math.max(1, Math.round(us)));
  const result = quantiles.map((q) => histogram.getValueAtPercentile(q));
  histogram.destroy();
  return result;
}

export function machine(): { cpu: string; cores: number; memoryGiB: number; node: string } {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

export function formatRate(perSec: number): string {
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)} M/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)} k/s`;
  return `${perSec.toFixed(0)} /s`;
}

export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}
