import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { Duplex } from "node:stream";
import { AppError } from "../errors.ts";

// The outbound target policy: which addresses tapedeck may connect to on a user's behalf (webhook URLs,
// storage endpoints, meeting_url). Without it a management-token holder could point a webhook at the
// cloud metadata service and read the host's credentials back from the delivery log. The check is made
// on the resolved address, by the socket itself (a custom `lookup` on the agent, plus a check of literal
// addresses, which Node connects to without a lookup), so the address checked is the address connected
// to, on every attempt. Precedence: TAPEDECK_OUTBOUND_ALLOW, then TAPEDECK_OUTBOUND_DENY and the built-in
// refused set, else allowed (loopback and private ranges are allowed by default).

export interface ResolvedAddress {
  address: string;
  family: number;
}
/** hostname → every address it has now (dns.lookup by default; tests inject a table). */
export type Resolver = (hostname: string, family: 0 | 4 | 6) => Promise<ResolvedAddress[]>;

export type OutboundVerdict = { allowed: true; address: string } | { allowed: false; address: string; rule: string; fix: string };

export interface OutboundPolicyOptions {
  /** CIDR entries refused on top of the built-in set (TAPEDECK_OUTBOUND_DENY). */
  deny?: string[];
  /** CIDR entries allowed whatever else says (TAPEDECK_OUTBOUND_ALLOW). */
  allow?: string[];
  resolve?: Resolver;
}

/** Refused by default in every spelling: nothing tapedeck should ever deliver to. */
const BUILT_IN_REFUSED: Array<[cidr: string, rule: string]> = [
  ["169.254.0.0/16", "link-local 169.254.0.0/16: cloud metadata"],
  ["fe80::/10", "link-local fe80::/10"],
  ["100.100.100.200/32", "cloud metadata (Alibaba Cloud) 100.100.100.200"],
  ["fd00:ec2::254/128", "cloud metadata (AWS IPv6) fd00:ec2::254"],
  ["0.0.0.0/8", "unspecified 0.0.0.0/8"],
  ["::/128", "unspecified ::"],
  ["224.0.0.0/4", "multicast 224.0.0.0/4"],
  ["ff00::/8", "multicast ff00::/8"],
  ["255.255.255.255/32", "broadcast 255.255.255.255"],
];

export const OUTBOUND_REFUSED_CODE = "ERR_OUTBOUND_REFUSED";

/** A socket-level refusal; its message names the host, the address and the rule. */
export class OutboundRefusedError extends Error {
  readonly code = OUTBOUND_REFUSED_CODE;
  constructor(
    readonly host: string,
    readonly verdict: Extract<OutboundVerdict, { allowed: false }>,
  ) {
    super(describeRefusal(host, verdict));
    this.name = "OutboundRefusedError";
  }
}

/** `metadata.test resolves to 169.254.169.254, refused by the outbound policy (rule); fix`. */
export function describeRefusal(host: string, v: Extract<OutboundVerdict, { allowed: false }>): string {
  const bare = host.replace(/^\[|\]$/g, "");
  const what = net.isIP(bare) ? `${bare} is` : `${host} resolves to ${v.address},`;
  return `${what} refused by the outbound policy (${v.rule}); ${v.fix}`;
}

interface Entry {
  cidr: string;
  list: net.BlockList;
}

function toEntry(cidr: string): Entry {
  const [addr, prefix] = cidr.split("/");
  const norm = normalise(addr);
  const family = norm.family === 6 ? "ipv6" : "ipv4";
  const max = family === "ipv6" ? 128 : 32;
  // An IPv4-mapped range (::ffff:a.b.c.d/112) is the IPv4 range it maps.
  const given = prefix === undefined ? max : net.isIPv6(addr) && family === "ipv4" ? Math.max(0, Number(prefix) - 96) : Number(prefix);
  const list = new net.BlockList();
  list.addSubnet(norm.address, given, family);
  return { cidr, list };
}

const matches = (entries: Entry[], a: { address: string; family: 4 | 6 }): Entry | undefined =>
  entries.find((e) => e.list.check(a.address, a.family === 6 ? "ipv6" : "ipv4"));

/** A test for "is this address in one of these CIDR ranges (or equal to one of these addresses)", IPv4-mapped forms included. */
export function matchAddresses(cidrs: string[]): (address: string) => boolean {
  const entries = cidrs.map(toEntry);
  return (address) =>
    entries.length > 0 && net.isIP(address.replace(/^\[|\]$/g, "")) !== 0 && matches(entries, normalise(address)) !== undefined;
}

/** Eight 16-bit groups of an IPv6 address (embedded dotted IPv4 and zone ids allowed). */
function ipv6Groups(ip: string): number[] {
  let s = ip.replace(/%.*$/, "").toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split(".").map(Number);
    s = `${s.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}

const v4From = (hi: number, lo: number): string => [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");

/** IPv4-mapped IPv6 (`::ffff:a.b.c.d`, any spelling) is IPv4: that is where the packets go. */
function normalise(ip: string): { address: string; family: 4 | 6 } {
  const bare = ip.replace(/^\[|\]$/g, "");
  if (net.isIPv4(bare)) return { address: bare, family: 4 };
  const g = ipv6Groups(bare);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return { address: v4From(g[6], g[7]), family: 4 };
  return { address: g.map((x) => x.toString(16)).join(":"), family: 6 };
}

/** IPv4 addresses other IPv6 spellings carry (NAT64, 6to4, IPv4-compatible), checked as well. */
function embeddedIpv4(address: string): { form: string; v4: string } | null {
  const g = ipv6Groups(address);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return { form: "NAT64", v4: v4From(g[6], g[7]) };
  if (g[0] === 0x2002) return { form: "6to4", v4: v4From(g[1], g[2]) };
  if (g.slice(0, 6).every((x) => x === 0) && (g[6] !== 0 || g[7] > 1)) return { form: "IPv4-compatible", v4: v4From(g[6], g[7]) };
  return null;
}

const defaultResolver: Resolver = async (hostname, family) => dns.promises.lookup(hostname, { all: true, family, verbatim: true });

export class OutboundPolicy {
  private readonly allow: Entry[];
  private readonly deny: Entry[];
  private readonly builtIn: Array<Entry & { rule: string }>;
  private readonly resolve: Resolver;
  private readonly agents = new Map<string, http.Agent>();

  constructor(opts: OutboundPolicyOptions = {}) {
    this.allow = (opts.allow ?? []).map(toEntry);
    this.deny = (opts.deny ?? []).map(toEntry);
    this.builtIn = BUILT_IN_REFUSED.map(([cidr, rule]) => ({ ...toEntry(cidr), rule }));
    this.resolve = opts.resolve ?? defaultResolver;
  }

  /** Whether tapedeck may connect to this address (any IPv4 or IPv6 spelling Node accepts). */
  checkAddress(ip: string): OutboundVerdict {
    const n = normalise(ip);
    const shown = n.address === ip ? ip : `${ip} (${n.address})`;
    const host = n.family === 6 ? 128 : 32;
    if (matches(this.allow, n)) return { allowed: true, address: ip };
    const denied = matches(this.deny, n);
    if (denied) {
      return {
        allowed: false,
        address: shown,
        rule: `TAPEDECK_OUTBOUND_DENY entry ${denied.cidr}`,
        fix: `remove ${denied.cidr} from TAPEDECK_OUTBOUND_DENY, or add ${n.address}/${host} to TAPEDECK_OUTBOUND_ALLOW`,
      };
    }
    const builtIn = this.builtIn.find((e) => e.list.check(n.address, n.family === 6 ? "ipv6" : "ipv4"));
    if (builtIn)
      return { allowed: false, address: shown, rule: builtIn.rule, fix: `set TAPEDECK_OUTBOUND_ALLOW=${n.address}/${host} to allow it` };
    const inner = n.family === 6 ? embeddedIpv4(n.address) : null;
    if (inner) {
      const v = this.checkAddress(inner.v4);
      if (!v.allowed) return { allowed: false, address: shown, rule: `${inner.form} form of ${inner.v4}: ${v.rule}`, fix: v.fix };
    }
    return { allowed: true, address: ip };
  }

  /**
   * Resolves a host (or takes a literal address) and checks every address it has; rejects with
   * `OutboundRefusedError` when any is refused (a name with one bad address is not half-trusted).
   */
  async resolveChecked(hostname: string, family: 0 | 4 | 6 = 0): Promise<ResolvedAddress[]> {
    const bare = hostname.replace(/^\[|\]$/g, "");
    const literal = net.isIP(bare);
    const found = literal ? [{ address: bare, family: literal }] : await this.resolve(hostname, family);
    for (const a of found) {
      const v = this.checkAddress(a.address);
      if (!v.allowed) throw new OutboundRefusedError(hostname, v);
    }
    return found;
  }

  /**
   * The API-side check of a URL a user gives (400 when refused): literal addresses and names that
   * resolve to a refused address now. A name that does not resolve now passes: delivery checks again.
   */
  async checkUrl(url: string, subject: string): Promise<void> {
    let host: string;
    try {
      host = new URL(url).hostname;
    } catch {
      throw new AppError("invalid_body", `${subject} ${url} is not a valid URL`, { details: [`${subject}: not a URL`] });
    }
    try {
      await this.resolveChecked(host);
    } catch (err) {
      if (!(err instanceof OutboundRefusedError)) return;
      const v = err.verdict;
      const bare = host.replace(/^\[|\]$/g, "");
      const what = net.isIP(bare) ? `is ${v.address}` : `resolves to ${v.address}`;
      throw new AppError("invalid_body", `${subject} ${url} ${what}, refused by the outbound policy (${v.rule}); ${v.fix}`, {
        details: [`${subject}: address ${v.address} refused by rule ${v.rule}`],
      });
    }
  }

  /** `checkUrl` for each given target (absent ones skipped), e.g. a room's webhook URL and upload endpoint. */
  async checkUrls(targets: Array<[url: string | null | undefined, subject: string]>): Promise<void> {
    for (const [url, subject] of targets) if (url) await this.checkUrl(url, subject);
  }

  /** `net.LookupFunction` for sockets: resolves, refuses, and hands back only checked addresses. */
  readonly lookup = (hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void): void => {
    const family =
      options.family === 4 || options.family === 6 ? options.family : options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : 0;
    this.resolveChecked(hostname, family).then(
      (found) => {
        if (found.length === 0)
          return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname }));
        if (options.all) callback(null, found);
        else callback(null, found[0].address, found[0].family);
      },
      (err: Error) => callback(err),
    );
  };

  /**
   * A keep-alive agent for `http:` or `https:` whose every new connection is checked: names through
   * `lookup`, literal addresses (which Node connects to without a lookup) before connecting.
   */
  agent(protocol: string, options: http.AgentOptions = {}): http.Agent {
    const key = `${protocol} ${JSON.stringify(options)}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = createGuardedAgent(this, protocol === "https:" ? https.Agent : http.Agent, { keepAlive: true, timeout: 5_000, ...options });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** Closes the sockets of the agents made by `agent()`. */
  destroy(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

type AgentClass = typeof http.Agent | typeof https.Agent;
type Callback = (err: Error | null, socket?: Duplex) => void;

/** A fresh guarded agent (callers that manage their own agent's lifetime, e.g. the S3 client's handler). */
export function createGuardedAgent(policy: OutboundPolicy, Base: AgentClass, options: http.AgentOptions | https.AgentOptions): http.Agent {
  const Guarded = class extends (Base as typeof http.Agent) {
    override createConnection(opts: net.NetConnectOpts & { host?: string }, cb: Callback): Duplex {
      const host = String(opts.host ?? "localhost").replace(/^\[|\]$/g, "");
      if (net.isIP(host)) {
        const v = policy.checkAddress(host);
        if (!v.allowed) {
          process.nextTick(() => cb(new OutboundRefusedError(host, v)));
          return undefined as unknown as Duplex;
        }
      }
      // `super.createConnection` is net.createConnection / tls.connect, which take `lookup`.
      return (Base.prototype as unknown as { createConnection: (o: object, c: Callback) => Duplex }).createConnection.call(
        this,
        { ...opts, lookup: policy.lookup },
        cb,
      );
    }
  };
  return new Guarded(options);
}

const shared = new WeakMap<object, OutboundPolicy>();

/** The one policy of a `config.outbound` (routes, dispatcher and storage share it, and its agents). */
export function outboundPolicy(outbound: { deny: string[]; allow: string[] } | undefined): OutboundPolicy {
  if (!outbound) return DEFAULT_OUTBOUND_POLICY;
  let p = shared.get(outbound);
  if (!p) shared.set(outbound, (p = new OutboundPolicy({ deny: outbound.deny, allow: outbound.allow })));
  return p;
}

/** The built-in policy alone (no env lists): for callers constructed without a config. */
export const DEFAULT_OUTBOUND_POLICY = new OutboundPolicy();
