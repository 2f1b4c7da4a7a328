/**
 * The two storage sites as the VM sees them: one Azurite serving HTTPS on port 443 of a random loopback address
 * (blob endpoints rendered from an environment carry no port, and the VM's fetch and runtime insist on HTTPS), with a
 * certificate from a throw-away CA for `*.blob.<suffix>` of both sites. The VM resolves the account host names to
 * that address through /etc/hosts and trusts the CA the way an image trusts a stamp's CA.
 *
 * The test itself reaches the same Azurite through a plain-HTTP loopback relay (path-style, account key), so its
 * seeding and checks go through the harness's ordinary clients.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { AddressInfo } from "node:net";
import { join } from "node:path";
import { BlobServiceClient, newPipeline, StorageSharedKeyCredential } from "@azure/storage-blob";
import { apiVersionPolicy } from "../../runtime/src/storage/api-version-policy";
import { LocalSite } from "../../tools/azurite/local-sites";

const AZURITE_BIN = require.resolve("azurite/dist/src/blob/main.js");

export interface TlsSites {
  readonly source: LocalSite;
  readonly target: LocalSite;
  /** The loopback address Azurite listens on (port 443). */
  readonly address: string;
  /** PEM of the CA that signed Azurite's certificate. */
  readonly caPem: string;
  /** /etc/hosts lines that send the accounts' blob hosts to Azurite. */
  readonly hostsLines: string;
  /** Regenerates both accounts' keys (Azurite restarts on the same address and data): every SAS signed before dies. */
  rotateKeys(): Promise<void>;
  stop(): Promise<void>;
}

export interface TlsSiteSpec {
  readonly account: string;
  /** `<account>.blob.<suffix>` is the host the VM uses. */
  readonly suffix: string;
}

function makeCertificates(dir: string, hosts: string[], address: string): { ca: string; cert: string; key: string } {
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=stackhub-dr test stamp CA",
    "-keyout", f("ca.key"), "-out", f("ca.pem"));
  ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${hosts[0]}`, "-keyout", f("server.key"), "-out", f("server.csr"));
  writeFileSync(f("san.ext"), `subjectAltName=${[...hosts.map((h) => `DNS:${h}`), `IP:${address}`].join(",")}\nextendedKeyUsage=serverAuth\n`);
  ossl("x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-days", "2",
    "-extfile", f("san.ext"), "-out", f("server.pem"));
  return { ca: f("ca.pem"), cert: f("server.pem"), key: f("server.key") };
}

async function launchAzurite(args: string[], env: NodeJS.ProcessEnv, pidDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [AZURITE_BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`Azurite did not start within 30 s: ${out}`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => { out += d; if (/listens on https:/.test(out)) { clearTimeout(timer); resolve(); } });
    child.stderr!.on("data", (d: Buffer) => { out += d; });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`Azurite exited with ${code}: ${out}`)); });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  // For the next run's clean-up, should this one be killed (vm-machine.ts reapLeftovers).
  writeFileSync(join(pidDir, "azurite.pid"), String(child.pid));
  return child;
}

/** Starts Azurite over HTTPS for two accounts, and the test's plain-HTTP relay to it. */
export async function startTlsSites(dir: string, source: TlsSiteSpec, target: TlsSiteSpec): Promise<TlsSites> {
  mkdirSync(join(dir, "azurite"), { recursive: true });
  const hosts = [source, target].map((s) => `${s.account}.blob.${s.suffix}`);
  const keys: Record<string, string> = { [source.account]: randomBytes(32).toString("base64"), [target.account]: randomBytes(32).toString("base64") };
  let azurite: ChildProcess | undefined;
  let address = "";
  let certs: { ca: string; cert: string; key: string } | undefined;
  const launch = () => launchAzurite([
    "--blobHost", address, "--blobPort", "443", "--cert", certs!.cert, "--key", certs!.key,
    "--disableTelemetry", "--silent", "--location", join(dir, "azurite"),
  ], { ...process.env, AZURITE_ACCOUNTS: Object.entries(keys).map(([a, k]) => `${a}:${k}`).join(";") }, dir);
  const halt = async () => {
    const p = azurite;
    azurite = undefined;
    if (p && p.exitCode === null) {
      await new Promise<void>((r) => { p.once("exit", () => r()); p.kill("SIGTERM"); setTimeout(() => p.kill("SIGKILL"), 5000).unref(); });
    }
  };
  // A random address in 127.0.0.0/8, so port 443 is free whatever else listens on loopback.
  for (let attempt = 0; !azurite; attempt++) {
    address = `127.${randomInt(16, 250)}.${randomInt(1, 250)}.${randomInt(2, 250)}`;
    certs = makeCertificates(dir, hosts, address);
    try {
      azurite = await launch();
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
  const caPem = readFileSync(certs!.ca, "utf8");
  const agent = new https.Agent({ ca: caPem, keepAlive: true });
  const relay = http.createServer((req, res) => {
    const up = https.request({ host: address, port: 443, method: req.method, path: req.url, headers: req.headers, agent, servername: hosts[0] }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", (err) => { res.writeHead(502); res.end(String(err)); });
    req.pipe(up);
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
  const relayPort = (relay.address() as AddressInfo).port;

  const site = (account: string): LocalSite => {
    const endpoint = `http://127.0.0.1:${relayPort}/${account}/`;
    const client = () => {
      const pipeline = newPipeline(new StorageSharedKeyCredential(account, keys[account]), { retryOptions: { maxTries: 2 } });
      pipeline.factories.push(apiVersionPolicy("2017-11-09"));
      return new BlobServiceClient(endpoint, pipeline);
    };
    return {
      account,
      get key() { return keys[account]; },
      blobEndpoint: endpoint,
      // The VM's tokens come from the stack's own signer (vm-deploy.ts), never from here.
      sas() { throw new Error("sign the VM's SAS tokens with signStackSas"); },
      service: client,
      container: (name) => client().getContainerClient(name),
    };
  };
  return {
    source: site(source.account),
    target: site(target.account),
    address,
    caPem,
    hostsLines: hosts.map((h) => `${address} ${h}\n`).join(""),
    async rotateKeys() {
      await halt();
      for (const a of Object.keys(keys)) keys[a] = randomBytes(32).toString("base64");
      azurite = await launch();
    },
    async stop() {
      relay.closeAllConnections?.();
      await new Promise<void>((r) => relay.close(() => r()));
      agent.destroy();
      await halt();
    },
  };
}
