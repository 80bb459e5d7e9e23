#!/usr/bin/env bash
# Fetches the anatomical sources of PETGAN's built-in FDG-PET cohort (issue 5) into Volumes/templates/:
#   MNI ICBM152 2009a sym T1, GM, WM maps   from the nilearn 0.14.1 wheel
#   AAL2 atlas (+ label table), pons mask    from the clinica 0.12.0 wheel
# Wheels are downloaded once with `pip download --no-deps` into Volumes/cache/; only the needed files
# are extracted, then checked against Volumes/templates.sha256 (committed). Idempotent: quiet and
# quick when the verified files are already there. Provenance and licences: Volumes/README.md.
#
# Environment: PETGAN_TEMPLATES  destination folder (default Volumes/templates)
#              PETGAN_WHEELS     folder holding the two wheels already (offline machines)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${PETGAN_TEMPLATES:-$here/templates}"
cache="${PETGAN_WHEELS:-$here/cache}"
sums="$here/templates.sha256"
NILEARN_WHEEL="nilearn-0.14.1-py3-none-any.whl"
CLINICA_WHEEL="clinica-0.12.0-py3-none-any.whl"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

# True when every file listed in templates.sha256 is present in $dest with the recorded hash.
all_verified() {
  local sum name
  while read -r sum name; do
    [ -n "$name" ] || continue
    [ -f "$dest/$name" ] || return 1
    [ "$(sha256_of "$dest/$name")" = "$sum" ] || return 1
  done < "$sums"
  return 0
}

if all_verified; then exit 0; fi

offline_help() {
  cat >&2 <<MSG
fetch-templates: could not download $1.
  The built-in cohort needs the MNI ICBM152 templates (nilearn wheel) and the AAL2 atlas (clinica wheel).
  On a machine with internet access run:
      python3 -m pip download --no-deps nilearn==0.14.1 clinica==0.12.0 -d wheels/
  then copy wheels/$NILEARN_WHEEL and wheels/$CLINICA_WHEEL into
      $cache/
  (or point PETGAN_WHEELS at the folder holding them) and run this script again:
      Volumes/fetch-templates.sh
MSG
  exit 1
}

command -v python3 >/dev/null 2>&1 || { echo "fetch-templates: python3 is needed (to download and unpack the wheels)" >&2; exit 1; }
mkdir -p "$cache" "$dest"

fetch_wheel() { # $1 = requirement, $2 = wheel file name
  [ -f "$cache/$2" ] && return 0
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "fetch-templates: pip is not available for python3 (install python3-pip), or provide the wheels offline:" >&2
    offline_help "$1"
  fi
  echo "fetch-templates: downloading $1 (once, into ${cache#$PWD/})"
  python3 -m pip download -q --no-deps --disable-pip-version-check "$1" -d "$cache" >/dev/null 2>"$cache/pip-error.log" \
    || { cat "$cache/pip-error.log" >&2 || true; offline_help "$1"; }
  rm -f "$cache/pip-error.log"
  [ -f "$cache/$2" ] || offline_help "$1 (pip did not produce $2)"
}
fetch_wheel nilearn==0.14.1 "$NILEARN_WHEEL"
fetch_wheel clinica==0.12.0 "$CLINICA_WHEEL"

# Extracts members of a wheel (a zip) flat into $dest, each through a temporary name then a rename.
python3 - "$cache/$NILEARN_WHEEL" "$cache/$CLINICA_WHEEL" "$dest" <<'PY'
import os, sys, zipfile
nilearn, clinica, dest = sys.argv[1:4]
wanted = {
    nilearn: ["nilearn/datasets/data/mni_icbm152_%s_tal_nlin_sym_09a_converted.nii.gz" % t for t in ("t1", "gm", "wm")],
    clinica: ["clinica/resources/atlases/atlas-AAL2_dseg.nii.gz",
              "clinica/resources/atlases/atlas-AAL2_dseg.tsv",
              "clinica/resources/masks/region-pons_eroded-6mm_mask.nii.gz"],
}
for wheel, members in wanted.items():
    try:
        z = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as e:
        sys.exit("fetch-templates: %s is not a valid wheel (%s); delete it and run again" % (wheel, e))
    with z:
        for m in members:
            out = os.path.join(dest, os.path.basename(m))
            tmp = out + ".part"
            try:
                data = z.read(m)
            except KeyError:
                sys.exit("fetch-templates: %s does not contain %s" % (wheel, m))
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, out)
PY
cp "$here/MNI-ICBM152-COPYRIGHT.txt" "$dest/MNI-ICBM152-COPYRIGHT.txt"

bad=0
while read -r sum name; do
  [ -n "$name" ] || continue
  got="$(sha256_of "$dest/$name")"
  if [ "$got" != "$sum" ]; then
    echo "fetch-templates: SHA-256 mismatch for $dest/$name: expected $sum, got $got" >&2
    bad=1
  fi
done < "$sums"
if [ $bad -ne 0 ]; then
  echo "fetch-templates: the cached wheels in $cache do not hold the expected files; delete them and run again" >&2
  exit 1
fi
echo "fetch-templates: MNI ICBM152 2009a + AAL2 + pons mask ready in ${dest#$PWD/}"
