#!/usr/bin/env bash
# A local MariaDB for Azurite's SQL metadata store, so bench/memory-scale.ts can hold 100,000 blobs (Azurite's
# default store scans every blob per request). Debian's mariadb-server, bound to 127.0.0.1, one database and user.
# Idempotent. Prints the AZURITE_DB value to export. Needs root (or sudo); the test suite never needs it.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
if ! command -v mariadbd >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mariadb-server
fi
# Loopback only; a benchmark's database needs no durability per commit.
$SUDO tee /etc/mysql/mariadb.conf.d/90-bench.cnf >/dev/null <<'CNF'
[mysqld]
bind-address = 127.0.0.1
innodb_flush_log_at_trx_commit = 2
innodb_buffer_pool_size = 512M
sync_binlog = 0
CNF
$SUDO service mariadb restart >/dev/null
$SUDO mariadb -e "CREATE DATABASE IF NOT EXISTS azurite_blob; CREATE USER IF NOT EXISTS 'azurite'@'127.0.0.1' IDENTIFIED BY 'azurite'; ALTER USER 'azurite'@'127.0.0.1' IDENTIFIED BY 'azurite'; GRANT ALL ON azurite_blob.* TO 'azurite'@'127.0.0.1'; FLUSH PRIVILEGES;"
echo "export AZURITE_DB=mysql://azurite:azurite@127.0.0.1:3306/azurite_blob"
