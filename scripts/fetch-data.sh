#!/usr/bin/env bash
# Fetch the training text `plinth train` uses, from a Debian package (no other site is contacted):
#   data/train/austen.txt  Jane Austen's six novels (public domain, Project Gutenberg transcriptions), 4.0 MB UTF-8,
#                          from r-cran-janeaustenr (GNU R data package; MIT packaging). See data/README.md.
# `apt-get download` the .deb into .cache/debs, unpack it, decode the six character vectors from R's lazy-load
# database (data/Rdata.rdb: records of a 4-byte size + a zlib stream holding an R-serialized character vector)
# and join them in publication order. Idempotent: an existing non-empty output is kept. Prints the path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/debs"; out_dir="$root/data/train"; out="$out_dir/austen.txt"
pkg=r-cran-janeaustenr
if [ -s "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache" "$out_dir"

deb="$(ls "$cache"/${pkg}_*.deb 2>/dev/null | head -n1 || true)"
if [ -z "$deb" ]; then
  # apt-get download needs package lists; a fresh machine may have none, so update once (needs root) and retry.
  if ! (cd "$cache" && apt-get download -q "$pkg" >/dev/null 2>&1); then
    apt-get update -q >/dev/null 2>&1 || true
    (cd "$cache" && apt-get download -q "$pkg" >&2) || { echo "fetch-data: cannot download Debian package $pkg" >&2; exit 1; }
  fi
  deb="$(ls "$cache"/${pkg}_*.deb | head -n1)"
fi

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
python3 - "$tmp/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb" "$out.tmp" <<'EOF'
import struct, sys, zlib

def read_strings(d):
    """Decode an R-serialized (XDR, version 2 or 3) character vector: header, STRSXP length, CHARSXPs."""
    if d[:2] != b"X\n":
        raise ValueError("not an XDR R serialization")
    p = 2
    ver, = struct.unpack(">i", d[p:p + 4]); p += 12            # version, writer R version, min reader version
    if ver == 3:
        n, = struct.unpack(">i", d[p:p + 4]); p += 4 + n        # native encoding name
    flags, = struct.unpack(">i", d[p:p + 4]); p += 4
    if flags & 0xFF != 16:
        return None                                              # not a character vector
    n, = struct.unpack(">i", d[p:p + 4]); p += 4
    lines = []
    for _ in range(n):
        f, l = struct.unpack(">ii", d[p:p + 8]); p += 8
        if f & 0xFF != 9:
            raise ValueError("bad CHARSXP")
        if l < 0:
            lines.append("")                                     # NA
            continue
        lines.append(d[p:p + l].decode("utf-8")); p += l
    return lines

rdb, dst = sys.argv[1], sys.argv[2]
b = open(rdb, "rb").read()
books, p = [], 0
while p < len(b):
    size, = struct.unpack(">I", b[p:p + 4])
    z = zlib.decompressobj()
    d = z.decompress(b[p + 4:])
    if len(d) != size:
        raise ValueError("record size mismatch")
    s = read_strings(d)
    if s is not None:
        books.append(s)
    p = len(b) - len(z.unused_data)
# The database holds the novels alphabetically by object name (emma, mansfieldpark, northangerabbey, persuasion,
# prideprejudice, sensesensibility); write them in publication order.
titles = [s[0].strip().upper() for s in books]
order = ["SENSE AND SENSIBILITY", "PRIDE AND PREJUDICE", "MANSFIELD PARK", "EMMA", "NORTHANGER ABBEY", "PERSUASION"]
if sorted(titles) != sorted(order):
    raise ValueError("unexpected contents: %r" % titles)
text = "\n\n\n".join("\n".join(books[titles.index(t)]).strip("\n") for t in order) + "\n"
with open(dst, "w", encoding="utf-8", newline="\n") as f:
    f.write(text)
EOF
size="$(stat -c %s "$out.tmp")"
if [ "$size" -lt 1000000 ] || [ "$size" -gt 5000000 ]; then
  echo "fetch-data: unexpected size $size of $out" >&2; rm -f "$out.tmp"; exit 1
fi
# The text r-cran-janeaustenr 1.0.0-1 gives; another package version may differ legitimately, so only warn.
want=32432b75ad045648fc586b923f9d38cddee6ecfa14cfe8968b9a028c36a19c23
got="$(sha256sum "$out.tmp" | cut -d' ' -f1)"
[ "$got" = "$want" ] || echo "fetch-data: note: sha256 $got differs from the 1.0.0-1 text's" >&2
mv "$out.tmp" "$out"
echo "fetched $out ($size bytes) from $(basename "$deb")" >&2
echo "$out"
