// A small allocator for the int8 kernel library: a bump region at the top of
// the heap plus an address-ordered free list with coalescing. Every block is
// 16-byte aligned and preceded by a 16-byte header:
//   [0] payload size in bytes (multiple of 16)  [4] next free block (when free)
//   [8] state tag (USED or FREE)                [12] unused
// The heap always keeps GUARD bytes of mapped memory above its top so that
// vector kernels may read (never write) up to 16 bytes past the end of a buffer.
// Any call that allocates may grow memory: the JS side must re-derive its views.

const HEADER: usize = 16;
const GUARD: usize = 64;
const USED: u32 = 0xa110c8ed;
const FREE: u32 = 0xf4eeb10c;

let heapStart: usize = 0;
let heapTop: usize = 0; // address of the next bump header
let freeHead: usize = 0;
let liveBytes: usize = 0;

@inline function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

function init(): void {
  if (heapStart == 0) {
    heapStart = align16(__heap_base);
    heapTop = heapStart;
  }
}

/** Makes sure [0, end + GUARD) is mapped; returns false when memory cannot grow. */
function ensureMapped(end: usize): bool {
  const need = <i32>((end + GUARD + 0xffff) >>> 16);
  const have = memory.size();
  if (need <= have) return true;
  // Grow by at least 1/8 of the current size to amortize growth.
  let delta = need - have;
  const slack = have >>> 3;
  if (delta < slack) delta = slack;
  if (memory.grow(delta) >= 0) return true;
  return memory.grow(need - have) >= 0;
}

/** Allocates `bytes` (16-byte aligned). Returns 0 when memory cannot grow. */
export function alloc(bytes: usize): usize {
  init();
  let size = align16(bytes < 16 ? 16 : bytes);
  // First fit in the free list.
  let prev: usize = 0;
  let cur = freeHead;
  while (cur != 0) {
    const curSize = <usize>load<u32>(cur);
    if (curSize >= size) {
      const next = <usize>load<u32>(cur, 4);
      const rest = curSize - size;
      let replacement = next;
      if (rest >= HEADER + 16) {
        const split = cur + HEADER + size;
        store<u32>(split, <u32>(rest - HEADER));
        store<u32>(split, <u32>next, 4);
        store<u32>(split, FREE, 8);
        replacement = split;
        store<u32>(cur, <u32>size);
      } else {
        size = curSize;
      }
      if (prev == 0) freeHead = replacement; else store<u32>(prev, <u32>replacement, 4);
      store<u32>(cur, 0, 4);
      store<u32>(cur, USED, 8);
      liveBytes += size;
      return cur + HEADER;
    }
    prev = cur;
    cur = <usize>load<u32>(cur, 4);
  }
  // Bump.
  const block = heapTop;
  const end = block + HEADER + size;
  if (end < block || !ensureMapped(end)) return 0;
  heapTop = end;
  store<u32>(block, <u32>size);
  store<u32>(block, 0, 4);
  store<u32>(block, USED, 8);
  liveBytes += size;
  return block + HEADER;
}

/** Frees a block returned by alloc. Returns 0, or -1 for a pointer that is not a live block. */
export function free(ptr: usize): i32 {
  if (ptr == 0) return 0;
  init();
  if ((ptr & 15) != 0 || ptr < heapStart + HEADER || ptr > heapTop) return -1;
  let block = ptr - HEADER;
  if (load<u32>(block, 8) != USED) return -1;
  let size = <usize>load<u32>(block);
  liveBytes -= size;
  store<u32>(block, FREE, 8);
  // Insert in address order.
  let prev: usize = 0;
  let cur = freeHead;
  while (cur != 0 && cur < block) {
    prev = cur;
    cur = <usize>load<u32>(cur, 4);
  }
  // Coalesce with the following free block.
  if (cur != 0 && block + HEADER + size == cur) {
    size += HEADER + <usize>load<u32>(cur);
    cur = <usize>load<u32>(cur, 4);
    store<u32>(block, <u32>size);
  }
  store<u32>(block, <u32>cur, 4);
  // Coalesce with the preceding free block.
  if (prev != 0 && prev + HEADER + <usize>load<u32>(prev) == block) {
    const merged = <usize>load<u32>(prev) + HEADER + size;
    store<u32>(prev, <u32>merged);
    store<u32>(prev, <u32>cur, 4);
    block = prev;
    size = merged;
  } else if (prev != 0) {
    store<u32>(prev, <u32>block, 4);
  } else {
    freeHead = block;
  }
  // A free block that ends at the top returns to the bump region.
  if (block + HEADER + size == heapTop) {
    heapTop = block;
    if (prev != 0 && prev != block) {
      store<u32>(prev, 0, 4);
    } else {
      // block is the head (or prev was merged into block): find its predecessor.
      if (freeHead == block) {
        freeHead = 0;
      } else {
        let p = freeHead;
        while (<usize>load<u32>(p, 4) != block) p = <usize>load<u32>(p, 4);
        store<u32>(p, 0, 4);
      }
    }
  }
  return 0;
}

/** Bytes currently allocated (payloads). */
export function allocatedBytes(): usize {
  return liveBytes;
}

/** Address one past the highest block (the bump pointer). */
export function heapEnd(): usize {
  init();
  return heapTop;
}

/** Number of blocks in the free list (for tests). */
export function freeBlockCount(): i32 {
  let n = 0;
  let cur = freeHead;
  while (cur != 0) {
    n++;
    cur = <usize>load<u32>(cur, 4);
  }
  return n;
}
