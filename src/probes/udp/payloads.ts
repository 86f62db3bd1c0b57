// What a UDP probe carries. Most UDP services answer only a request they understand: an empty datagram to a
// DNS, NTP or SNMP server gets nothing back, and the port would be open|filtered where it is open. So, as
// nmap does (its nmap-payloads file lists which ports get what), a few well-known ports get a minimal valid
// request of their protocol; every other port gets an empty datagram. These requests are written here from
// the protocols' specifications.

/**
 * DNS (RFC 1035): a header only (id 0, flags 0x1000: opcode 2 = STATUS, then four zero counts), no question:
 * any DNS server answers it, if only with NOTIMP.
 */
const DNS_STATUS = Uint8Array.from([0x00, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);

/** NTP (RFC 5905): a 48-byte client request, version 4, mode 3, everything else zero. */
const NTP_CLIENT = (() => {
  const b = new Uint8Array(48);
  b[0] = 0xe3; // leap 3 (unsynchronised), version 4, mode 3 (client)
  b[2] = 4; // poll interval 2^4 s
  b[3] = 0xfa; // precision 2^-6 s
  return b;
})();

/** SNMP v1 (RFC 1157): GetRequest for sysDescr.0 (1.3.6.1.2.1.1.1.0) with community "public", BER-encoded. */
const SNMP_V1_GET = (() => {
  const oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00];
  const varbind = [0x30, oid.length + 2, ...oid, 0x05, 0x00];
  const varbinds = [0x30, varbind.length, ...varbind];
  const pdu = [
    ...[0x02, 0x04, 0x57, 0x50, 0x52, 0x42], // request-id
    ...[0x02, 0x01, 0x00], // error-status
    ...[0x02, 0x01, 0x00], // error-index
    ...varbinds,
  ];
  const message = [
    ...[0x02, 0x01, 0x00], // version 1 (0)
    ...[0x04, 0x06, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63], // "public"
    ...[0xa0, pdu.length, ...pdu], // GetRequest-PDU
  ];
  return Uint8Array.from([0x30, message.length, ...message]);
})();

const PAYLOADS: ReadonlyMap<number, Uint8Array> = new Map([
  [53, DNS_STATUS],
  [123, NTP_CLIENT],
  [161, SNMP_V1_GET],
]);

const EMPTY = new Uint8Array(0);

/** The probe's payload for a destination port (empty for most). */
export function udpPayload(port: number): Uint8Array {
  return PAYLOADS.get(port) ?? EMPTY;
}

/** The longest payload of any port: frames are laid out for it. */
export const MAX_UDP_PAYLOAD = Math.max(...[...PAYLOADS.values()].map((p) => p.length));
