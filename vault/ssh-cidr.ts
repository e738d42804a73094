// The `source-address` critical option: a comma-separated list of addresses and CIDR blocks,
// IPv4 and IPv6. Parsed strictly, because a list we misread would widen who may connect.
import { isIPv4, isIPv6 } from "node:net";
import { VaultError } from "./errors.js";

interface Block {
  bytes: Buffer;
  prefix: number;
}

function sourceAddressError(message: string): VaultError {
  return new VaultError("CERT_SOURCE_ADDRESS", "invalid", message);
}

function ipv4Bytes(text: string): Buffer {
  return Buffer.from(text.split(".").map(Number));
}

// Only called on text net.isIPv6 accepted, so the shape is already known to be valid.
function ipv6Bytes(text: string): Buffer {
  let groupsText = text;
  let tail: number[] = [];
  if (text.includes(".")) {
    const cut = text.lastIndexOf(":");
    tail = [...ipv4Bytes(text.slice(cut + 1))];
    groupsText = text.slice(0, cut + 1);
    if (!groupsText.endsWith("::")) groupsText = groupsText.slice(0, -1);
  }
  const wanted = tail.length ? 6 : 8;
  const parse = (s: string): number[] => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const halves = groupsText.split("::");
  let groups: number[];
  if (halves.length === 2) {
    const left = parse(halves[0]!);
    const right = parse(halves[1]!);
    groups = [...left, ...new Array<number>(wanted - left.length - right.length).fill(0), ...right];
  } else {
    groups = parse(groupsText);
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  Buffer.from(tail).copy(out, 12);
  return out;
}

/** Address bytes (4 or 16), with IPv4-mapped IPv6 unmapped as sshd does; null if not an IP. */
export function addressBytes(address: string): Buffer | null {
  const plain = address.replace(/%.*$/, "");
  if (isIPv4(plain)) return ipv4Bytes(plain);
  if (!isIPv6(plain)) return null;
  const bytes = ipv6Bytes(plain);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.subarray(12) : bytes;
}

function parseBlock(entry: string): Block {
  const [addr = "", prefixText, extra] = entry.split("/");
  if (extra !== undefined) throw sourceAddressError(`source-address entry "${entry}" is not an address or CIDR block`);
  const isV4 = isIPv4(addr);
  if (!isV4 && !isIPv6(addr)) throw sourceAddressError(`source-address entry "${entry}" is not an IP address or CIDR block`);
  const bytes = isV4 ? ipv4Bytes(addr) : ipv6Bytes(addr);
  const max = bytes.length * 8;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) throw sourceAddressError(`source-address entry "${entry}" has an invalid prefix length`);
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) throw sourceAddressError(`source-address entry "${entry}" has a prefix longer than ${max} bits`);
  // Host bits set (10.1.2.3/8) is ambiguous about what was meant, so it is refused.
  if (hostBitsSet(bytes, prefix)) {
    throw sourceAddressError(`source-address entry "${entry}" has bits set past its /${prefix} prefix`);
  }
  return { bytes, prefix };
}

function hostBitsSet(bytes: Buffer, prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return true;
  }
  return false;
}

function prefixMatches(a: Buffer, b: Buffer, prefix: number): boolean {
  if (a.length !== b.length) return false;
  for (let bit = 0; bit < prefix; bit++) {
    const mask = 1 << (7 - (bit & 7));
    if ((a[bit >> 3]! & mask) !== (b[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** Parses a source-address list, throwing CERT_SOURCE_ADDRESS if any entry is invalid. */
export function parseSourceAddressList(list: string): Block[] {
  const entries = list.split(",").map((e) => e.trim());
  if (entries.length === 0 || entries.some((e) => e === "")) throw sourceAddressError(`source-address list "${list}" has an empty entry`);
  return entries.map(parseBlock);
}

export function sourceAddressAllows(list: string, clientAddress: string): boolean {
  const client = addressBytes(clientAddress);
  if (!client) return false;
  return parseSourceAddressList(list).some((block) => prefixMatches(block.bytes, client, block.prefix));
}
