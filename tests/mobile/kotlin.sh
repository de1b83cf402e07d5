#!/usr/bin/env bash
# Compiles the project's Kotlin programs against the SDK's Kotlin bindings,
# for the JVM:
#
#   bash tests/mobile/kotlin.sh BINDGEN LIBRARY
#
# generates the Kotlin bindings from LIBRARY (libgreenlight_mobile.so) with
# BINDGEN (crates/mobile/bindgen's uniffi-bindgen), compiles them with the
# story (tests/mobile/kotlin/*.kt) and the benchmark (bench/mobile/*.kt)
# into one jar in the cache (again only when the bindings or a source
# changed: tests/mobile.sh and bench/run share it), and prints the
# classpath to run them with:
#
#   java -cp "$(bash tests/mobile/kotlin.sh …)" -Djna.library.path=DIR StoryKt …
#
# where DIR holds LIBRARY. Installs what is missing: the Kotlin compiler
# from the npm package kotlin-compiler (into $cache/npm), Java and JNA from
# Debian's packages (libjna-java, libjna-jni: Debian's JNA loads its native
# part from the system's library path, so it is installed, not unpacked).
# Progress goes to standard error; standard output is the classpath alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ $# -ne 2 ]; then
    echo "usage: tests/mobile/kotlin.sh BINDGEN LIBRARY" >&2
    exit 2
fi
bindgen=$1
library=$2
sources=(tests/mobile/kotlin/*.kt bench/mobile/*.kt)

cache=${GREENLIGHT_MOBILE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/greenlight-mobile}
kotlin_version=2.4.20
kotlin_home="$cache/npm/node_modules/kotlin-compiler"
jna=/usr/share/java/jna.jar

if [ ! -x "$kotlin_home/bin/kotlinc" ] || ! grep -qx "$kotlin_version" "$kotlin_home/build.txt" 2>/dev/null; then
    echo "installing kotlin-compiler $kotlin_version (npm) into $cache/npm" >&2
    mkdir -p "$cache/npm"
    if ! command -v npm >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm) >&2
    fi
    timeout 600 npm install --prefix "$cache/npm" --no-audit --no-fund --loglevel=error \
        "kotlin-compiler@$kotlin_version" >&2
fi
if ! command -v java >/dev/null || [ ! -f "$jna" ] || ! dpkg -s libjna-jni >/dev/null 2>&1; then
    echo "installing Java and JNA (Debian: default-jre-headless libjna-java libjna-jni)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        default-jre-headless libjna-java libjna-jni) >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bindgen" generate --no-format --library "$library" --language kotlin --out-dir "$work" >&2
bindings=$(find "$work" -name '*.kt')
[ -n "$bindings" ] || { echo "kotlin.sh: uniffi-bindgen wrote no Kotlin" >&2; exit 1; }

# One jar per content: the bindings (their checksums tie them to the
# library's interface) and the sources.
hash=$(cat $bindings "${sources[@]}" <(echo "$kotlin_version") | sha256sum | cut -c1-16)
jar="$cache/kotlin/greenlight-$hash.jar"
if [ ! -f "$jar" ]; then
    echo "compiling $(echo $bindings "${sources[@]}" | wc -w) Kotlin file(s) with kotlinc $kotlin_version" >&2
    mkdir -p "$cache/kotlin"
    started=$SECONDS
    timeout 900 "$kotlin_home/bin/kotlinc" -nowarn -cp "$jna:$kotlin_home/lib/kotlin-test.jar" \
        -d "$work/out.jar" $bindings "${sources[@]}" >&2
    mv "$work/out.jar" "$jar"
    echo "compiled in $((SECONDS - started)) s" >&2
fi
echo "$jar:$kotlin_home/lib/kotlin-stdlib.jar:$kotlin_home/lib/kotlin-test.jar:$jna"
