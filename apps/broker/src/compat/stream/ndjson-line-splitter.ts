/** A line longer than the limit: its bytes were dropped as they arrived. */
export const OVERLONG_LINE = Symbol('overlong line');

export type NdjsonLine = string | typeof OVERLONG_LINE;

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into NDJSON lines (trimmed, blank ones dropped), holding at most one partial
 * line of at most `maxLineBytes`: a longer line is dropped while it streams in and reported once as
 * OVERLONG_LINE. Splitting on the byte 0x0A is safe in UTF-8 (it never occurs inside a character).
 */
export class NdjsonLineSplitter {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private overlong = false;

  constructor(private readonly maxLineBytes: number) {}

  /** The lines completed by this piece of the body. */
  push(data: Buffer): NdjsonLine[] {
    const lines: NdjsonLine[] = [];
    let start = 0;
    for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE, start)) {
      this.append(data.subarray(start, end));
      this.takeLine(lines);
      start = end + 1;
    }
    // A copy, so a short partial line does not keep a whole network buffer alive.
    if (start < data.length && !this.overlong) this.append(Buffer.from(data.subarray(start)));
    return lines;
  }

  /** The final line when the body does not end with a newline (upstream drops it; it is a good line). */
  end(): NdjsonLine[] {
    const lines: NdjsonLine[] = [];
    this.takeLine(lines);
    return lines;
  }

  private append(bytes: Buffer): void {
    if (this.overlong || bytes.length === 0) return;
    if (this.partialBytes + bytes.length > this.maxLineBytes) {
      this.overlong = true;
      this.partial = [];
      this.partialBytes = 0;
      return;
    }
    this.partial.push(bytes);
    this.partialBytes += bytes.length;
  }

  private takeLine(lines: NdjsonLine[]): void {
    if (this.overlong) {
      lines.push(OVERLONG_LINE);
    } else if (this.partialBytes > 0) {
      const text = (this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial, this.partialBytes)).toString('utf8').trim();
      if (text.length > 0) lines.push(text);
    }
    this.partial = [];
    this.partialBytes = 0;
    this.overlong = false;
  }
}
