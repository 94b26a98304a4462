import crypto from "node:crypto";
import fs from "node:fs";
import type { Config } from "../config/config.ts";

// HTTPS served by tapedeck itself (TAPEDECK_TLS_CERT, TAPEDECK_TLS_KEY). The files are read and checked
// once, at boot, before anything else starts: a missing file, a file that is not PEM, or a key that does
// not belong to the certificate stops the boot with a message naming the file, rather than a TLS error
// in every browser later. Behind a TLS-terminating reverse proxy none of this is used (see README, HTTPS).

export interface TlsMaterial {
  /** PEM: the certificate, followed by any intermediates. */
  cert: Buffer;
  key: Buffer;
  /** The leaf certificate's subject and validity, for the boot log. */
  subject: string;
  validTo: string;
}

export class TlsFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = "TlsFileError";
  }
}

/** Reads and checks the certificate and key files the config names (null: no TLS). */
export function loadTlsMaterial(tls: Config["tls"]): TlsMaterial | null {
  if (!tls) return null;
  const cert = readPem(tls.certFile, "TAPEDECK_TLS_CERT");
  const key = readPem(tls.keyFile, "TAPEDECK_TLS_KEY");
  let leaf: crypto.X509Certificate;
  try {
    leaf = new crypto.X509Certificate(cert);
  } catch (err) {
    throw new TlsFileError(tls.certFile, `not a valid PEM certificate (TAPEDECK_TLS_CERT): ${(err as Error).message}`);
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch (err) {
    throw new TlsFileError(tls.keyFile, `not a valid unencrypted PEM private key (TAPEDECK_TLS_KEY): ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsFileError(tls.keyFile, `this private key does not belong to the certificate in ${tls.certFile} (TAPEDECK_TLS_KEY)`);
  }
  return { cert, key, subject: leaf.subject.replace(/\n/g, ", "), validTo: leaf.validTo };
}

function readPem(file: string, setting: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ENOENT" ? "no such file" : e.code === "EACCES" ? "permission denied" : e.message;
    throw new TlsFileError(file, `cannot read it (${setting}): ${why}`);
  }
}
