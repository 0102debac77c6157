#!/usr/bin/env bash
#  scripts/docker-base.sh - makes the `debian:12-slim` base image locally, for an engine that
#  cannot pull from a registry (the Dockerfile starts FROM it). Does nothing when the engine
#  already has the tag. Otherwise imports the cached root tarball, building it first with
#  `debootstrap --variant=minbase bookworm` when it is missing (as root, a few minutes).
#    scripts/docker-base.sh             cache in $TG_DOCKER_CACHE (/var/cache/tollgate)
#  The root is trimmed as the official slim image is: dpkg leaves out documentation, man
#  pages and locales of every package installed later, apt keeps no package lists or .debs.
#  Mirror: TG_DEBIAN_MIRROR (http://deb.debian.org/debian).
set -euo pipefail

tag=debian:12-slim
docker=${DOCKER:-docker}
if $docker image inspect "$tag" >/dev/null 2>&1; then
    echo "docker-base: $tag is present"
    exit 0
fi
cache=${TG_DOCKER_CACHE:-/var/cache/tollgate}
mirror=${TG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
tarball=$cache/debian-12-minbase.tar

if [[ ! -s $tarball ]]; then
    command -v debootstrap >/dev/null || { echo "docker-base: debootstrap is missing (scripts/deps.sh --test)" >&2; exit 1; }
    [[ $(id -u) -eq 0 ]] || { echo "docker-base: debootstrap needs root" >&2; exit 1; }
    mkdir -p "$cache"
    root=$(mktemp -d "$cache/root.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    echo "docker-base: debootstrap --variant=minbase bookworm from $mirror (a few minutes)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
        tail -20 "$cache/debootstrap.log" >&2
        echo "docker-base: debootstrap failed (log: $cache/debootstrap.log)" >&2
        exit 1
    }
    #  The sources of the official image: the release, its updates and security.
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    #  The slim variant: no docs, man pages or locales from any later install.
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
DPKG
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    echo 'Acquire::GzipIndexes "true"; Acquire::CompressionTypes::Order:: "gz";' \
        >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/lib/apt/lists/* \
        "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    tar --numeric-owner -C "$root" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
fi
echo "docker-base: importing $tarball as $tag"
$docker import --change 'CMD ["bash"]' "$tarball" "$tag" >/dev/null
$docker image ls "$tag"
