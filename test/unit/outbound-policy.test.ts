import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { AppError } from "../../src/errors.ts";
import { OutboundPolicy, OutboundRefusedError, type Resolver } from "../../src/net/outbound-policy.ts";

// The outbound target policy: every spelling of a refused address, the precedence of the env lists,
// resolution through an injected resolver, and the socket-level guard (lookup + literal addresses).

const fakeDns =
  (table: Record<string, string[]>): Resolver =>
  async (host) => {
    const found = table[host.replace(/\.$/, "").toLowerCase()];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return found.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };

describe("outbound policy: addresses", () => {
  const policy = new OutboundPolicy();

  test("link-local (cloud metadata), unspecified, multicast and broadcast are refused by default, naming the rule", () => {
    const cases: Array<[string, RegExp]> = [
      ["169.254.169.254", /link-local 169\.254\.0\.0\/16/],
      ["169.254.0.1", /link-local/],
      ["fe80::1", /link-local fe80::\/10/],
      ["0.0.0.0", /unspecified/],
      ["0.1.2.3", /unspecified/],
      ["::", /unspecified/],
      ["224.0.0.1", /multicast 224\.0\.0\.0\/4/],
      ["239.255.255.250", /multicast/],
      ["ff02::1", /multicast ff00::\/8/],
      ["255.255.255.255", /broadcast/],
      ["100.100.100.200", /cloud metadata \(Alibaba Cloud\)/],
      ["fd00:ec2::254", /cloud metadata \(AWS IPv6\)/],
    ];
    for (const [ip, rule] of cases) {
      const v = policy.checkAddress(ip);
      assert.equal(v.allowed, false, ip);
      if (!v.allowed) assert.match(v.rule, rule, ip);
    }
  });

  test("IPv4-mapped, NAT64, 6to4 and IPv4-compatible spellings of a refused IPv4 are refused", () => {
    for (const ip of [
      "::ffff:169.254.169.254",
      "::ffff:a9fe:a9fe",
      "0:0:0:0:0:ffff:169.254.169.254",
      "0:0:0:0:0:FFFF:A9FE:A9FE",
      "64:ff9b::a9fe:a9fe",
      "64:ff9b::169.254.169.254",
      "2002:a9fe:a9fe::1",
      "::169.254.169.254",
      "::ffff:0.0.0.0",
      "::ffff:224.0.0.1",
    ]) {
      const v = policy.checkAddress(ip);
      assert.equal(v.allowed, false, ip);
    }
    const mapped = policy.checkAddress("::ffff:a9fe:a9fe");
    assert.ok(
      !mapped.allowed &&
        /link-local 169\.254\.0\.0\/16/.test(mapped.rule) &&
        mapped.fix.includes("TAPEDECK_OUTBOUND_ALLOW=169.254.169.254/32"),
    );
  });

  test("loopback, private ranges and public addresses are allowed by default", () => {
    for (const ip of [
      "127.0.0.1",
      "127.9.9.9",
      "::1",
      "::ffff:127.0.0.1",
      "10.0.0.1",
      "172.16.5.4",
      "192.168.1.1",
      "fd12::1",
      "100.64.0.1",
      "8.8.8.8",
      "2001:4860:4860::8888",
      "64:ff9b::808:808",
    ]) {
      assert.equal(policy.checkAddress(ip).allowed, true, ip);
    }
  });

  test("TAPEDECK_OUTBOUND_DENY refuses more (loopback and private here), in every spelling, naming the entry", () => {
    const strict = new OutboundPolicy({ deny: ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "192.168.0.0/16", "fc00::/7"] });
    for (const ip of ["127.0.0.1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::1", "10.1.2.3", "192.168.0.10", "fd00::5"]) {
      const v = strict.checkAddress(ip);
      assert.equal(v.allowed, false, ip);
      if (!v.allowed) {
        assert.match(v.rule, /TAPEDECK_OUTBOUND_DENY entry/, ip);
        assert.match(v.fix, /remove .* from TAPEDECK_OUTBOUND_DENY/, ip);
      }
    }
    assert.equal(strict.checkAddress("8.8.8.8").allowed, true);
    assert.equal(strict.checkAddress("169.254.169.254").allowed, false, "the built-in set still applies");
  });

  test("TAPEDECK_OUTBOUND_ALLOW wins over the built-in set and over DENY", () => {
    const p = new OutboundPolicy({ allow: ["169.254.169.254/32", "10.1.0.0/16"], deny: ["10.0.0.0/8"] });
    assert.equal(p.checkAddress("169.254.169.254").allowed, true);
    assert.equal(p.checkAddress("::ffff:169.254.169.254").allowed, true);
    assert.equal(p.checkAddress("169.254.169.253").allowed, false);
    assert.equal(p.checkAddress("10.1.2.3").allowed, true);
    assert.equal(p.checkAddress("10.2.0.1").allowed, false);
    assert.equal(
      new OutboundPolicy({ allow: ["169.254.169.254"] }).checkAddress("169.254.169.254").allowed,
      true,
      "a bare address is a /32",
    );
  });
});

describe("outbound policy: URLs and names", () => {
  const dns = fakeDns({
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["10.0.0.1", "169.254.169.254"],
    "receiver.test": ["127.0.0.1"],
  });
  const policy = new OutboundPolicy({ resolve: dns });

  test("every URL spelling of the metadata address is refused (decimal, hex, octal, short, mapped, trailing dot)", async () => {
    for (const url of [
      "http://169.254.169.254/latest/meta-data/",
      "http://2852039166/",
      "http://0xa9fea9fe/",
      "http://0xa9.0xfe.0xa9.0xfe/",
      "http://0251.0376.0251.0376/",
      "http://169.254.43518/",
      "http://169.254.169.254./",
      "http://[::ffff:169.254.169.254]/",
      "http://[::ffff:a9fe:a9fe]/",
      "http://[0:0:0:0:0:ffff:169.254.169.254]/",
      "https://[fe80::1]:8443/",
      "http://0/",
      "http://[::]/",
      "http://metadata.test/",
      "http://metadata.test./",
      "http://METADATA.test/",
      "http://mixed.test/",
    ]) {
      const err = await policy.checkUrl(url, "webhook URL").then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof AppError, url);
      assert.equal(err.status, 400, url);
      assert.match(err.message, /refused by the outbound policy \(/, url);
      assert.ok(err.message.startsWith(`webhook URL ${url}`), err.message);
    }
  });

  test("the message names the address, the rule and the setting that allows it", async () => {
    const err = await policy.checkUrl("http://metadata.test/x", "webhook URL").catch((e: AppError) => e);
    assert.equal(
      (err as AppError).message,
      "webhook URL http://metadata.test/x resolves to 169.254.169.254, refused by the outbound policy (link-local 169.254.0.0/16: cloud metadata); set TAPEDECK_OUTBOUND_ALLOW=169.254.169.254/32 to allow it",
    );
    const literal = await policy.checkUrl("http://2130706433.0x7f/", "x").catch((e: AppError) => e);
    assert.ok(literal instanceof AppError, "an unparsable host is a client error too");
  });

  test("decimal and hex spellings of loopback are loopback: allowed by default, refused with DENY=127.0.0.0/8", async () => {
    for (const url of [
      "http://2130706433/",
      "http://0x7f.1/",
      "http://0177.0.0.1/",
      "http://127.1/",
      "http://[::1]/",
      "http://[::ffff:7f00:1]/",
      "http://receiver.test/",
    ]) {
      await policy.checkUrl(url, "webhook URL");
      const strict = new OutboundPolicy({ deny: ["127.0.0.0/8", "::1/128"], resolve: dns });
      await assert.rejects(strict.checkUrl(url, "webhook URL"), /TAPEDECK_OUTBOUND_DENY entry (127\.0\.0\.0\/8|::1\/128)/, url);
    }
  });

  test("a name that does not resolve now is not refused at config time (delivery will say why it fails)", async () => {
    await policy.checkUrl("http://nowhere.test/", "webhook URL");
  });
});

describe("outbound policy: the socket guard", () => {
  test("an agent refuses a name resolving to a refused address before connecting, and literal refused addresses", async () => {
    let hits = 0;
    const server = http.createServer((_req, res) => {
      hits++;
      res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const get = (policy: OutboundPolicy, host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.get({ host, port, path: "/", agent: policy.agent("http:") }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
      });
    try {
      const dns = fakeDns({ "receiver.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"] });
      const open = new OutboundPolicy({ resolve: dns });
      assert.equal(await get(open, "receiver.test"), 200);
      assert.equal(await get(open, "127.0.0.1"), 200);
      const refused = await get(open, "metadata.test").catch((e: unknown) => e);
      assert.ok(refused instanceof OutboundRefusedError);
      assert.equal(refused.code, "ERR_OUTBOUND_REFUSED");
      assert.match(refused.message, /^metadata\.test resolves to 169\.254\.169\.254, refused by the outbound policy \(link-local/);
      await assert.rejects(
        get(open, "169.254.169.254"),
        (e: unknown) => e instanceof OutboundRefusedError && /^169\.254\.169\.254 is refused/.test(e.message),
      );
      const strict = new OutboundPolicy({ deny: ["127.0.0.0/8"], resolve: dns });
      await assert.rejects(get(strict, "receiver.test"), /TAPEDECK_OUTBOUND_DENY entry 127\.0\.0\.0\/8/);
      await assert.rejects(get(strict, "127.0.0.1"), /TAPEDECK_OUTBOUND_DENY entry 127\.0\.0\.0\/8/);
      assert.equal(hits, 2, "refused targets are never connected to");
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
