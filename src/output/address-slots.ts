// IPv4 address -> slot number, an open-addressing hash table on typed arrays. A Map keyed by addresses costs a
// heap number per key above 2^31 and a rehash of its entries as it grows; a sweep makes 65,536 of them. Here a
// key is the address as a signed 32-bit number, so the tables hold every key and slot unboxed.

const EMPTY = -1;

export class AddressSlots {
  private keys = new Int32Array(1024);
  private slots = new Int32Array(1024).fill(EMPTY);
  private mask = 1023;
  /** 32 - log2(capacity): the hash is the product's top bits (its low bits ignore the key's high bits) */
  private shift = 22;
  private count = 0;

  /** The address's slot, or -1 when it has none. */
  get(ip: number): number {
    const key = ip | 0;
    const { keys, slots, mask } = this;
    for (let i = Math.imul(key, 0x9e3779b1) >>> this.shift; ; i = (i + 1) & mask) {
      const s = slots[i]!;
      if (s === EMPTY || keys[i] === key) return s;
    }
  }

  /** Gives the address (which has no slot yet) slot `slot` (>= 0). */
  set(ip: number, slot: number): void {
    if (++this.count * 2 > this.mask) this.grow();
    this.place(ip | 0, slot);
  }

  private place(key: number, slot: number): void {
    const { keys, slots, mask } = this;
    let i = Math.imul(key, 0x9e3779b1) >>> this.shift;
    while (slots[i] !== EMPTY) i = (i + 1) & mask;
    keys[i] = key;
    slots[i] = slot;
  }

  private grow(): void {
    const { keys, slots } = this;
    this.keys = new Int32Array(keys.length * 2);
    this.slots = new Int32Array(keys.length * 2).fill(EMPTY);
    this.mask = keys.length * 2 - 1;
    this.shift--;
    for (let i = 0; i < keys.length; i++) if (slots[i] !== EMPTY) this.place(keys[i]!, slots[i]!);
  }
}
