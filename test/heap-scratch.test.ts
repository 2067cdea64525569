import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScratchPool } from '../src/heap/scratch';

describe('ScratchPool', () => {
  it('hands a given buffer out again, zeroed for u8/i8, and allocates when nothing fits', () => {
    const pool = new ScratchPool();
    const dead = new Uint32Array(1000).fill(7);
    pool.give(dead);
    const a = pool.u8(4000);
    assert.equal(a.buffer, dead.buffer);
    assert.ok(a.every((x) => x === 0));
    const b = pool.i32(10); // the pool is empty now
    assert.notEqual(b.buffer, dead.buffer);
    assert.equal(b.length, 10);
  });

  it('takes the smallest region that fits and keeps the rest of a large one', () => {
    const pool = new ScratchPool();
    const big = new Uint8Array(1 << 20);
    const small = new Uint8Array(1000);
    pool.give(big);
    pool.give(small);
    assert.equal(pool.u8(500).buffer, small.buffer);
    const x = pool.u32(1000); // 4000 bytes from the start of big
    assert.equal(x.buffer, big.buffer);
    const y = pool.i8(1000); // from big's remainder, after x
    assert.equal(y.buffer, big.buffer);
    assert.ok(y.byteOffset >= x.byteOffset + x.byteLength);
  });

  it('hands each region given to its release function', () => {
    const released: [ArrayBufferLike, number, number][] = [];
    const pool = new ScratchPool((r) => released.push([r.buffer, r.byteOffset, r.byteLength]));
    const buf = new ArrayBuffer(1 << 16);
    pool.give(new Uint32Array(buf, 4, 100));
    pool.give(new Uint32Array(buf, 4, 100)); // twice: not released again
    assert.deepEqual(released, [[buf, 8, 396]]);
  });

  it('keeps regions of a view 8-aligned and ignores a region given twice', () => {
    const pool = new ScratchPool();
    const buf = new ArrayBuffer(1 << 17);
    pool.give(new Uint8Array(buf, 3));
    pool.give(new Uint8Array(buf, 3));
    const a = pool.u32(100);
    assert.equal(a.byteOffset, 8);
    const b = pool.u32(100); // the remainder of the one region
    assert.ok(b.byteOffset >= 8 + 400);
    assert.equal(b.byteOffset % 8, 0);
  });
});
