/** Where things live on the intermediary VM; shared by cloud-init, the settings script and the runtime config. */
export const VM_LAYOUT = {
  serviceUser: "dr-sync",
  libDir: "/usr/local/lib/dr-sync",
  nodeBin: "/usr/local/lib/dr-sync/bin/node",
  runtimeJs: "/usr/local/lib/dr-sync/dr-sync.js",
  fetchScript: "/usr/local/lib/dr-sync/fetch-artifacts",
  diskScript: "/usr/local/lib/dr-sync/prepare-staging-disk",
  cliWrapper: "/usr/local/bin/dr-sync",
  etcDir: "/etc/dr-sync",
  configFile: "/etc/dr-sync/config.json",
  sasEnvFile: "/etc/dr-sync/sas.env",
  artifactsEnvFile: "/etc/dr-sync/artifacts.env",
  mountPoint: "/srv/drsync",
  mountUnit: "srv-drsync.mount",
  diskUnit: "dr-sync-staging-disk.service",
  diskLabel: "drsync-staging",
  stagingDir: "/srv/drsync/staging",
  stateDir: "/srv/drsync/state",
  serviceUnit: "dr-sync.service",
  /** The image's CA bundle (Debian and Ubuntu), where `update-ca-certificates` puts a stamp's root CA. */
  caBundle: "/etc/ssl/certs/ca-certificates.crt",
  timerUnit: "dr-sync.timer",
  /** Variables of the SAS environment file: the reading side, the writing side, the artifacts container. */
  env: { source: "DR_SYNC_SOURCE_SAS", target: "DR_SYNC_TARGET_SAS", artifacts: "DR_SYNC_ARTIFACTS_SAS" },
} as const;
