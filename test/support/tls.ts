import { execFileSync } from "node:child_process";
import path from "node:path";

/** A self-signed certificate for 127.0.0.1 and localhost in `dir` (made with openssl), its key, and a key of another certificate. */
export function makeCertificate(dir: string): { cert: string; key: string; otherKey: string } {
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  const otherKey = path.join(dir, "other-key.pem");
  const ec = ["-pkeyopt", "ec_paramgen_curve:prime256v1"];
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", ...ec, "-nodes", "-keyout", key, "-out", cert, "-days", "2"].concat([
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]),
    { stdio: "pipe" },
  );
  execFileSync("openssl", ["genpkey", "-algorithm", "EC", ...ec, "-out", otherKey], { stdio: "pipe" });
  return { cert, key, otherKey };
}
