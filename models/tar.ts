// A tiny streaming reader for gzip-compressed tar archives (npm tarballs), enough to pull a few
// named regular files out of a large package without unpacking the rest or spawning `tar`.
// Supports ustar headers (name + prefix), pax extended headers ('x') and GNU long names ('L').

import {createReadStream} from 'node:fs';
import {pipeline} from 'node:stream/promises';
import {createGunzip} from 'node:zlib';

const BLOCK = 512;

interface TarHeader {
  path: string;
  size: number;
  typeFlag: string;
}

/** Reads a NUL-terminated string field of a tar header. */
function readStringField(header: Buffer, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

/** Reads an octal number field of a tar header (the only encoding npm tarballs use). */
function readOctalField(header: Buffer, offset: number, length: number, archiveLabel: string): number {
  if ((header[offset] & 0x80) !== 0) {
    throw new Error(`${archiveLabel}: base-256 tar size fields are not supported`);
  }
  const text = readStringField(header, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new Error(`${archiveLabel}: corrupt tar header (numeric field "${text}" is not octal)`);
  }
  return parseInt(text, 8);
}

/** The header checksum: the byte sum of the header with the checksum field read as spaces. */
function headerChecksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum;
}

function isZeroBlock(header: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (header[i] !== 0) return false;
  return true;
}

function parseHeader(header: Buffer, archiveLabel: string): TarHeader {
  const expectedChecksum = readOctalField(header, 148, 8, archiveLabel);
  if (headerChecksum(header) !== expectedChecksum) {
    throw new Error(`${archiveLabel}: corrupt tar header (checksum mismatch)`);
  }
  const name = readStringField(header, 0, 100);
  const isUstar = header.subarray(257, 262).toString('latin1') === 'ustar';
  const prefix = isUstar ? readStringField(header, 345, 155) : '';
  return {
    path: prefix === '' ? name : `${prefix}/${name}`,
    size: readOctalField(header, 124, 12, archiveLabel),
    typeFlag: String.fromCharCode(header[156] || 0x30),
  };
}

/** Pax extended header records are "<length> <key>=<value>\n"; returns the `path` record. */
function paxPath(body: Buffer): string | undefined {
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const recordLength = parseInt(body.subarray(offset, space).toString('latin1'), 10);
    if (!(recordLength > 0)) break;
    const record = body.subarray(space + 1, offset + recordLength - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (record.slice(0, equals) === 'path') return record.slice(equals + 1);
    offset += recordLength;
  }
  return undefined;
}

/** Incremental tar parser: feed it decompressed chunks, it keeps the wanted regular files. */
class TarEntryCollector {
  readonly found = new Map<string, Buffer>();
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private current: TarHeader | null = null;
  private bodyChunks: Buffer[] | null = null;
  private bodyRemaining = 0;
  private longPathOverride: string | undefined;
  private ended = false;

  constructor(
    private readonly wanted: ReadonlySet<string>,
    private readonly archiveLabel: string,
  ) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.ended) {
      if (this.bodyRemaining > 0) {
        offset = this.consumeBody(chunk, offset);
      } else {
        offset = this.consumeHeader(chunk, offset);
      }
    }
  }

  private consumeBody(chunk: Buffer, offset: number): number {
    const take = Math.min(this.bodyRemaining, chunk.length - offset);
    if (this.bodyChunks !== null) this.bodyChunks.push(chunk.subarray(offset, offset + take));
    this.bodyRemaining -= take;
    if (this.bodyRemaining === 0) this.finishEntry();
    return offset + take;
  }

  private consumeHeader(chunk: Buffer, offset: number): number {
    const take = Math.min(BLOCK - this.headerFill, chunk.length - offset);
    chunk.copy(this.header, this.headerFill, offset, offset + take);
    this.headerFill += take;
    if (this.headerFill === BLOCK) {
      this.headerFill = 0;
      this.startEntry();
    }
    return offset + take;
  }

  private startEntry(): void {
    if (isZeroBlock(this.header)) {
      this.ended = true;
      return;
    }
    const header = parseHeader(this.header, this.archiveLabel);
    if (this.longPathOverride !== undefined && header.typeFlag !== 'x' && header.typeFlag !== 'L') {
      header.path = this.longPathOverride;
      this.longPathOverride = undefined;
    }
    this.current = header;
    this.bodyChunks = this.shouldKeepBody(header) ? [] : null;
    this.bodyRemaining = Math.ceil(header.size / BLOCK) * BLOCK;
    if (this.bodyRemaining === 0) this.finishEntry();
  }

  private shouldKeepBody(header: TarHeader): boolean {
    if (header.typeFlag === 'x' || header.typeFlag === 'L') return true;
    const isRegularFile = header.typeFlag === '0' || header.typeFlag === '7';
    return isRegularFile && this.wanted.has(header.path);
  }

  private finishEntry(): void {
    const header = this.current;
    if (header === null) return;
    const body = this.bodyChunks === null ? null : Buffer.concat(this.bodyChunks).subarray(0, header.size);
    if (body !== null) {
      if (header.typeFlag === 'x') this.longPathOverride = paxPath(body) ?? this.longPathOverride;
      else if (header.typeFlag === 'L') this.longPathOverride = readStringField(body, 0, body.length);
      else this.found.set(header.path, Buffer.from(body));
    }
    this.current = null;
    this.bodyChunks = null;
  }
}

/**
 * Streams a .tgz and returns the contents of the wanted regular files (paths as stored in the
 * archive, e.g. `package/models/posenet.json`). Throws naming the archive and every wanted path
 * that it does not contain.
 */
export async function readFilesFromTarGz(
  tarGzPath: string,
  wantedPaths: Iterable<string>,
): Promise<Map<string, Buffer>> {
  const wanted = new Set(wantedPaths);
  const collector = new TarEntryCollector(wanted, tarGzPath);
  try {
    await pipeline(createReadStream(tarGzPath), createGunzip(), async (chunks: AsyncIterable<Buffer>) => {
      for await (const chunk of chunks) collector.push(chunk);
    });
  } catch (error) {
    throw new Error(`${tarGzPath}: cannot read tar.gz archive: ${(error as Error).message}`);
  }
  const missing = [...wanted].filter(path => !collector.found.has(path));
  if (missing.length > 0) {
    throw new Error(`${tarGzPath} does not contain ${missing.join(', ')}`);
  }
  return collector.found;
}
