#!/usr/bin/env node
/**
 * Signs a storage SAS with the account key, for sites whose Terraform provider has no SAS data source
 * (azurestack). Runs as Terraform's `external` data source program: reads one JSON object on stdin, writes
 * `{"sas": "..."}` on stdout. Plain Node, no dependencies, deterministic: the same inputs give the same token,
 * so a plan shows no change until the rotation inputs change.
 *
 * Supports the string-to-sign of service versions 2015-04-05 up to 2018-11-09 (Azure Stack Hub accepts 2017-11-09).
 */
"use strict";
const crypto = require("crypto");

/** Canonical order of account SAS permissions (the service checks the signature over `sp` as sent). */
const ACCOUNT_PERMISSION_ORDER = "rwdlacup";
/** Canonical order of container SAS permissions. */
const CONTAINER_PERMISSION_ORDER = "racwdl";
const OLDEST = "2015-04-05";
const NEWEST = "2018-11-09";

function ordered(permissions, order, what) {
  for (const p of permissions) {
    if (!order.includes(p)) throw new Error(`${what} permission "${p}" is not one of "${order}"`);
  }
  return [...order].filter((p) => permissions.includes(p)).join("");
}

/** Drops milliseconds, as the service expects: 2025-01-01T00:00:00Z. */
function isoSeconds(value, what) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new Error(`${what} must be an RFC 3339 time (got ${JSON.stringify(value)})`);
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function checkVersion(version) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(version) || version < OLDEST || version >= NEWEST) {
    throw new Error(`version must be from ${OLDEST} to before ${NEWEST} (got ${JSON.stringify(version)})`);
  }
}

function hmac(key, stringToSign) {
  return crypto.createHmac("sha256", Buffer.from(key, "base64")).update(stringToSign, "utf8").digest("base64");
}

function query(params) {
  return Object.entries(params)
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join("&");
}

/** Account SAS over the given services and resource types. */
function accountSas({ account, key, permissions, start = "", expiry, version, protocol = "https", services = "b", resourceTypes = "sco" }) {
  checkVersion(version);
  const sp = ordered(permissions, ACCOUNT_PERMISSION_ORDER, "account SAS");
  const st = start ? isoSeconds(start, "start") : "";
  const se = isoSeconds(expiry, "expiry");
  const stringToSign = [account, sp, services, resourceTypes, st, se, "", protocol, version, ""].join("\n");
  const sig = hmac(key, stringToSign);
  return query({ sv: version, ss: services, srt: resourceTypes, sp, st, se, spr: protocol, sig });
}

/** Service SAS for one container. */
function containerSas({ account, key, container, permissions, start = "", expiry, version, protocol = "https" }) {
  checkVersion(version);
  if (!container) throw new Error("container is required for a container SAS");
  const sp = ordered(permissions, CONTAINER_PERMISSION_ORDER, "container SAS");
  const st = start ? isoSeconds(start, "start") : "";
  const se = isoSeconds(expiry, "expiry");
  const resource = `/blob/${account}/${container}`;
  const stringToSign = [sp, st, se, resource, "", "", protocol, version, "", "", "", "", ""].join("\n");
  const sig = hmac(key, stringToSign);
  return query({ sv: version, spr: protocol, st, se, sr: "c", sp, sig });
}

function sign(input) {
  if (input.kind === "container") return containerSas(input);
  if (input.kind === "account" || input.kind === undefined) return accountSas(input);
  throw new Error(`kind must be "account" or "container" (got ${JSON.stringify(input.kind)})`);
}

module.exports = { accountSas, containerSas, sign };

if (require.main === module) {
  let raw = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => (raw += chunk));
  process.stdin.on("end", () => {
    try {
      process.stdout.write(JSON.stringify({ sas: sign(JSON.parse(raw)) }));
    } catch (err) {
      // Terraform shows stderr and the exit code; the key never appears in the message.
      process.stderr.write(`sign-sas: ${err.message}\n`);
      process.exit(1);
    }
  });
}
